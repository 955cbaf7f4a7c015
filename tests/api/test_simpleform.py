"""The one-pass reader of plain submission bodies (lanfax.api.simpleform, #19) against
starlette's general multipart parser, on the same bytes.

The contract: for any body, :func:`simple_form` either declines (None: the route then gives
the body to starlette, so nothing changes) or returns exactly what starlette returns (the
same names, texts, file names, sizes, bytes and part headers, in the same order). The
bodies our client and httpx send must be taken (or the shortcut would be dead code).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from lanfax.api.simpleform import InMemoryUpload, simple_form
from lanfax.client._multipart import multipart

LIMITS = {"max_fields": 10, "max_files": 100, "max_field_size": 1024}


def _normal(form: FormData) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = value.file.read()
            value.file.seek(0)
            out.append((name, "file", value.filename, value.size, data, value.headers.raw))
        else:
            out.append((name, "text", value))
    return out


def _starlette(body: bytes, ctype: str) -> list[tuple[Any, ...]] | str:
    """starlette's reading of ``body`` (as the route calls it), or its error's text."""

    async def parse() -> list[tuple[Any, ...]] | str:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(b"content-type", ctype.encode("latin-1"))]
        request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
        try:
            form = await request.form(
                max_files=LIMITS["max_files"],
                max_fields=LIMITS["max_fields"],
                max_part_size=LIMITS["max_field_size"],
            )
        except Exception as exc:  # starlette's refusal: the shortcut must have declined
            return f"{type(exc).__name__}: {exc}"
        try:
            return _normal(form)
        finally:
            await form.close()

    return asyncio.run(parse())


def _simple(body: bytes, ctype: str) -> list[tuple[Any, ...]] | None:
    form = simple_form(body, ctype, **LIMITS)
    return None if form is None else _normal(form)


def _check(body: bytes, ctype: str) -> bool:
    """The contract on one body; True when the shortcut took it."""
    mine = _simple(body, ctype)
    if mine is None:
        return False
    assert mine == _starlette(body, ctype), (body[:300], ctype)
    return True


def test_our_clients_body_takes_the_shortcut() -> None:
    params = {"recipients": [{"recipient_number": "101"}], "tsid": "ü +49 30"}
    files = [("page.tif", b"II*\x00" + bytes(range(256)) * 40), ("zweite Seite.pdf", b"%PDF")]
    body, ctype = multipart(params, files)
    assert _check(body, ctype)
    form = simple_form(body, ctype, **LIMITS)
    assert form is not None
    assert json.loads(str(form["params"])) == params
    uploads = form.getlist("file")
    assert [u.filename for u in uploads if isinstance(u, UploadFile)] == [n for n, _ in files]
    assert all(isinstance(u, InMemoryUpload) for u in uploads)


def test_httpx_body_takes_the_shortcut() -> None:
    request = httpx.Request(
        "POST",
        "http://lanfax/api/v1/jobs",
        data={"params": json.dumps({"recipients": [{"recipient_number": "101"}]})},
        files=[("file", ("doc.tif", b"II*\x00data\r\n--not-the-boundary", "image/tiff"))],
    )
    assert _check(request.read(), request.headers["content-type"])


def test_what_it_declines() -> None:
    body, ctype = multipart({"recipients": []}, [("a.tif", b"x")])
    boundary = ctype.split("boundary=")[1]
    declined = {
        "preamble": (b"hello\r\n" + body, ctype),
        "no close": (body[: -len(f"--{boundary}--\r\n")], ctype),
        "charset": (body, ctype + "; charset=latin-1"),
        "quoted boundary": (body, ctype.replace(boundary, f'"{boundary}"')),
        "another part header": (
            body.replace(b"Content-Type: application/json", b"X-Other: 1"),
            ctype,
        ),
        "escaped name": (body.replace(b'name="params"', b'name="par\\"ams"'), ctype),
        "filename*": (body.replace(b'filename="a.tif"', b"filename*=UTF-8''a.tif"), ctype),
        "params too long": (
            multipart({"x": "y" * 2000}, [("a.tif", b"x")])[0],
            multipart({"x": "y" * 2000}, [("a.tif", b"x")])[1],
        ),
        "not UTF-8 text": (body.replace(b'{"recipients":[]}', b'{"recipients":"\xff"}'), ctype),
        "too large": (body + b" " * (1024 * 1024), ctype),
    }
    for name, (data, content_type) in declined.items():
        if name == "params too long":
            content_type = declined[name][1]
        assert simple_form(data, content_type, **LIMITS) is None, name


_names = st.sampled_from(["params", "file", "x", "", 'a"b', "a\\b", "ü", "a b"])
_filenames = st.one_of(
    st.none(), st.sampled_from(["page.tif", "", "a\\b.tif", 'q"uote', "C:\\x\\y.tif", "ü.pdf"])
)
_plain_names = st.sampled_from(["params", "file", "x", "ü", "a b"])
_plain_filenames = st.one_of(st.none(), st.sampled_from(["page.tif", "", "ü.pdf"]))
_data = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"\r\n", b"--", b"\r\n--", b"\xff\xfe", "é".encode(), b"a" * 1100]),
)


@st.composite
def _bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    # Half the bodies are plain (the shape clients send, names and data still drawn), half
    # are anything: the shortcut must take most plain ones and read every one it takes right.
    plain = draw(st.booleans())
    boundaries = ["lanfax-0123abcd", "b", "x" * 70, "=?:"] + ([] if plain else ["a b"])
    boundary = draw(st.sampled_from(boundaries))
    b = boundary.encode()
    out = []
    if not plain and draw(st.booleans()):
        out.append(b"preamble\r\n")
    for _ in range(draw(st.integers(1 if plain else 0, 4))):
        name = draw(_plain_names if plain else _names)
        filename = draw(_plain_filenames if plain else _filenames)
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        canonical = [
            f"Content-Disposition: {disposition}\r\n",
            f"Content-Disposition: {disposition}\r\nContent-Type: image/tiff\r\n",
        ]
        head = draw(
            st.sampled_from(canonical)
            if plain
            else st.sampled_from(
                [
                    f"Content-Disposition: {disposition}\r\n",
                    f"content-disposition:{disposition}\r\n",
                    f"Content-Disposition:  {disposition}  \r\n",
                    f"Content-Disposition: {disposition}\r\nContent-Type: image/tiff\r\n",
                    f"Content-Type: text/plain\r\nContent-Disposition: {disposition}\r\n",
                    f"Content-Disposition: {disposition}\r\nX-A: b\r\n",
                    f"Content-Disposition: {disposition.replace('; ', ';')}\r\n",
                    "",
                ]
            )
        )
        data = draw(_data)
        out.append(b"--" + b + b"\r\n" + head.encode() + b"\r\n" + data + b"\r\n")
    ends = [b"--\r\n", b"--", b"--\r\nepilogue", b""]
    out.append(b"--" + b + (b"--\r\n" if plain else draw(st.sampled_from(ends))))
    body = b"".join(out)
    if not plain and draw(st.booleans()):  # one byte changed, added or removed somewhere
        at = draw(st.integers(0, max(0, len(body) - 1)))
        kind = draw(st.sampled_from(["set", "insert", "delete"]))
        byte = bytes([draw(st.sampled_from([0x0D, 0x0A, 0x2D, 0x22, 0x3B, 0x20, 0x41]))])
        if kind == "set":
            body = body[:at] + byte + body[at + 1 :]
        elif kind == "insert":
            body = body[:at] + byte + body[at:]
        else:
            body = body[:at] + body[at + 1 :]
    if plain:
        return body, f"multipart/form-data; boundary={boundary}"
    ctype = draw(
        st.sampled_from(
            [
                f"multipart/form-data; boundary={boundary}",
                f"multipart/form-data;boundary={boundary}",
                f'multipart/form-data; boundary="{boundary}"',
            ]
        )
    )
    return body, ctype


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies())
def test_taken_bodies_read_as_starlette_reads_them(case: tuple[bytes, str]) -> None:
    event("taken" if _check(*case) else "declined")


def test_the_shortcut_takes_most_generated_plain_bodies() -> None:
    """Without mutations and with the usual headers, the shortcut must take the bodies (a
    reader that declined everything would pass the property above)."""
    taken = 0
    for i in range(50):
        params = {"recipients": [{"recipient_number": f"1{i:03d}"}]}
        body, ctype = multipart(params, [(f"f{i}.tif", bytes([i]) * (i * 37))] * (1 + i % 3))
        taken += _check(body, ctype)
    assert taken == 50
