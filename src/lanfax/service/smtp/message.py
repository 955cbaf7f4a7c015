"""What a mail asks to fax: pure functions, no I/O.

* :func:`parse_recipient` - ``NUMBER@DOMAIN`` or ``NUMBER+Name@DOMAIN`` -> a fax recipient,
  or :class:`BadRecipient` with the SMTP reply that says why not. A leading ``+`` belongs to
  the number (``+4930123456@...``); the first ``+`` after it separates the recipient's name,
  whose ``.`` and ``_`` read as spaces (``101+Jane_Doe@...`` is "Jane Doe" at 101). A local
  part that begins with a letter names a contact or distribution list of the sender's
  address book (``sales@...``, ``Jane_Doe@...``: ``@sales``, ``@Jane Doe``).
* :func:`parse_message` - the raw message -> :class:`MailContent`: the documents to fax in
  the order the mail holds them, the subject, the body as text (an HTML body made readable
  text, never its source), the body's HTML (when the mail has one) with the pictures it
  shows by ``cid:``, the sender. A part that cannot be decoded or an empty
  attachment is an :class:`~lanfax.model.errors.InvalidInput` naming it.

Which parts are documents: every part that is an attachment (``Content-Disposition:
attachment`` or a file name) and every non-text part that is not a picture of an HTML body
(a ``multipart/related`` part with a Content-ID, such as a signature's logo), except
signatures, keys, TNEF and business cards (:data:`NOT_DOCUMENTS`). The body is the text part
a mail client shows (plain preferred to HTML in a ``multipart/alternative``); further inline
text parts (a list footer) are added to it. The HTML of the body (the HTML body, or the HTML
alternative of a plain body) is kept too: the intake faxes it laid out
(:func:`lanfax.documents.html_to_pdf`) when it becomes pages of its own. An encrypted mail
is refused.
"""

from __future__ import annotations

import dataclasses
import email
import email.parser
import email.policy
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from lanfax.model.errors import InvalidInput

#: Longest local part number and name (after which the address is refused).
MAX_NUMBER = 64
MAX_NAME = 100
_NUMBER = re.compile(r"\+?[0-9*#][0-9*#\-]*")


@dataclass(frozen=True, slots=True)
class FaxRecipient:
    """A fax number (and the recipient's name), or - ``number`` starting with ``@`` - a
    contact or distribution list of the sender's address book, as ``lanfax send --to
    @name`` gives it (resolved when the mail is processed)."""

    number: str
    name: str
    address: str

    @property
    def is_contact(self) -> bool:
        return self.number.startswith("@")

    @property
    def contact(self) -> str:
        """The address book name (for a contact reference)."""
        return self.number[1:]


class BadRecipient(Exception):
    """A recipient address that is refused; ``reply`` is the SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def parse_recipient(address: str, domain: str) -> FaxRecipient:
    """``"101+Jane_Doe@fax.example.org"`` -> FaxRecipient("101", "Jane Doe", ...)."""
    local, at, dom = address.strip().rpartition("@")
    if not at or not local:
        raise BadRecipient(f"550 5.1.3 {address!r} is not NUMBER@{domain}")
    if dom.lower().rstrip(".") != domain:
        raise BadRecipient(
            f"550 5.7.1 relaying denied: this server faxes mail to NUMBER@{domain} only"
        )
    if local.startswith('"'):
        raise BadRecipient(f"550 5.1.1 {local!r}: write the fax number as NUMBER@{domain}")
    match = _NUMBER.match(local)
    if match is None:
        if not local[0].isalpha():
            raise BadRecipient(
                f"550 5.1.1 {local!r} is not a fax number: write NUMBER@{domain} "
                f"or NUMBER+Name@{domain}"
            )
        # A name: a contact or a distribution list of the address book.
        name = re.sub(r"\s+", " ", local.replace("_", " ").replace(".", " ")).strip()
        if len(name) > MAX_NAME or not all(ch.isprintable() for ch in name):
            raise BadRecipient(f"550 5.1.1 {local[:40]!r} is not a fax number or a name")
        return FaxRecipient("@" + name, "", address.strip())
    number, rest = match.group(0).rstrip("-"), local[match.end() :]
    if rest and not rest.startswith("+"):
        raise BadRecipient(
            f"550 5.1.1 {local!r} is not a fax number: a number has digits (and - between "
            f"them); a name follows a +, as in 101+Jane_Doe@{domain}"
        )
    if len(number) > MAX_NUMBER:
        raise BadRecipient(f"550 5.1.1 the fax number {number[:20]}... is too long")
    name = re.sub(r"\s+", " ", rest[1:].replace("_", " ").replace(".", " ")).strip()
    if len(name) > MAX_NAME:
        raise BadRecipient(f"550 5.1.1 the recipient's name is longer than {MAX_NAME}")
    return FaxRecipient(number.replace("-", ""), name, address.strip())


# -- HTML as text ---------------------------------------------------------------------------

_BLOCKS = {
    "p", "div", "br", "tr", "table", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "address", "dl",
    "dt", "dd",
}  # fmt: skip
_SKIP = {"script", "style", "head", "title", "template", "noscript"}
#: Elements whose layout a cover page's note (plain text) loses: an HTML body holding one is
#: faxed laid out, as pages of its own.
_RICH = {"table", "img", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "svg", "picture"}


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.rich = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _RICH and not self.skip:
            self.rich = True
        if tag in _SKIP:
            self.skip += 1
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append("  ")
        elif tag in _BLOCKS:
            self.out.append("\n")
        if tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _RICH and not self.skip:
            self.rich = True
        if tag in ("br", "hr"):
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS and tag not in ("br", "li"):
            self.out.append("\n")
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The text a reader sees in ``html``: paragraphs and line breaks kept, list items as
    "- ", scripts, styles and the head dropped, entities decoded. (The standard library's
    html.parser; no layout, which a cover page's note does not need.)"""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_is_rich(html: str) -> bool:
    """Whether ``html`` holds what plain text cannot show: a table, a picture, a heading,
    preformatted text. (Paragraphs, line breaks, lists, bold and links read fine as text.)"""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return parser.rich


# -- the message ----------------------------------------------------------------------------

#: Parts that travel with a mail but are not what the sender means to fax: S/MIME and
#: OpenPGP signatures and keys (RFC 8551, RFC 3156), Outlook's TNEF (winmail.dat), the
#: sender's business card. They are left out, silently.
NOT_DOCUMENTS = frozenset(
    {
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
        "application/pgp-signature",
        "application/pgp-keys",
        "application/ms-tnef",
        "application/vnd.ms-tnef",
        "text/vcard",
        "text/x-vcard",
    }
)
#: An encrypted mail cannot be read: refused, saying so.
ENCRYPTED = frozenset(
    {
        "multipart/encrypted",
        "application/pkcs7-mime",
        "application/x-pkcs7-mime",
        "application/pgp-encrypted",
    }
)


@dataclass(frozen=True, slots=True)
class MailDocument:
    """One document to fax: its position among the mail's documents, and its bytes."""

    index: int
    filename: str
    content_type: str
    data: bytes

    @property
    def label(self) -> str:
        """How a refusal names it: "attachment 2 (scan.pdf)"."""
        name = "".join(ch if ch.isprintable() else "?" for ch in self.filename)
        if len(name) > 60:
            name = name[:57] + "..."
        return f"attachment {self.index} ({name})" if name else f"attachment {self.index}"


@dataclass(frozen=True, slots=True)
class MailContent:
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    #: Where replies go: Reply-To, else From.
    reply_address: str = ""
    message_id: str = ""
    body: str = ""
    documents: tuple[MailDocument, ...] = field(default_factory=tuple)
    #: The body's HTML source ("" for a plain-text mail), to be laid out, never shown as is.
    html: str = ""
    #: The pictures the HTML shows by ``cid:`` (parts of its ``multipart/related`` with a
    #: Content-ID): ``(url, content, mime type)``, the url as the HTML writes it
    #: (``"cid:logo@example"``).
    resources: tuple[tuple[str, bytes, str], ...] = field(default_factory=tuple)

    @property
    def html_is_rich(self) -> bool:
        """Whether the body's HTML shows more than its text does (see :func:`html_is_rich`)."""
        return bool(self.html) and html_is_rich(self.html)


def _first_address(msg: EmailMessage, header: str) -> Address | None:
    try:
        value = msg[header]
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return None
    addresses = getattr(value, "addresses", ()) if value is not None else ()
    for a in addresses:
        if isinstance(a, Address) and "@" in a.addr_spec:
            return a
    return None


def _clean(text: str, limit: int) -> str:
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return text[:limit]


def _source_of(part: Message, label: str) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError) as exc:
        raise InvalidInput(
            f"{label} cannot be read: {exc}", hint="send it as UTF-8 (or a known charset)"
        ) from None
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return str(content)


def _text_of(part: Message, label: str) -> str:
    text = _source_of(part, label)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def _decode_defects(part: Message) -> list[str]:
    return [
        type(d).__name__
        for d in part.defects
        if "Base64" in type(d).__name__ or "Undecodable" in type(d).__name__
    ]


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or bool(part.get_filename())


def _header_fields(msg: EmailMessage) -> MailContent:
    frm = _first_address(msg, "from")
    reply = _first_address(msg, "reply-to") or frm
    try:
        subject = str(msg.get("subject", "") or "")
        message_id = str(msg.get("message-id", "") or "")
    except (ValueError, IndexError, TypeError):
        subject, message_id = "", ""
    return MailContent(
        subject=_clean(" ".join(subject.split()), 200),
        from_name=_clean(frm.display_name, 100) if frm else "",
        from_address=frm.addr_spec.lower() if frm else "",
        reply_address=reply.addr_spec if reply else "",
        message_id=message_id.strip()[:200],
    )


def parse_headers(raw: bytes) -> MailContent:
    """Who sent the mail, where replies go, its subject and Message-ID: the header alone
    (what a refusal needs when the body cannot be read)."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    headers = parser.parsebytes(raw)
    assert isinstance(headers, EmailMessage)
    return _header_fields(headers)


def sender_address(raw: bytes) -> str:
    """The ``From:`` address of a mail (lower case), from its header alone; "" if none."""
    return parse_headers(raw).from_address


def parse_message(raw: bytes) -> MailContent:
    """Read a mail (RFC 5322 bytes). See the module docstring for what becomes what."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    head = _header_fields(msg)
    body_part = msg.get_body(preferencelist=("plain", "html"))
    if body_part is not None and _is_attachment(body_part):
        body_part = None
    html_part = msg.get_body(preferencelist=("html",)) if body_part is not None else None
    if html_part is not None and _is_attachment(html_part):
        html_part = None
    body: list[str] = []
    documents: list[MailDocument] = []
    resources: list[tuple[str, bytes, str]] = []

    def visit(part: Message, parent: str) -> None:
        ctype = part.get_content_type()
        if ctype in ENCRYPTED:
            raise InvalidInput(
                "the mail is encrypted: the fax server cannot read it",
                hint="send it unencrypted (signed is fine)",
            )
        if ctype in NOT_DOCUMENTS:
            return  # a signature, a key, Outlook's winmail.dat, a business card
        if part.is_multipart():
            kind = part.get_content_subtype()
            for child in part.iter_parts():  # type: ignore[attr-defined]
                visit(child, kind)
            return
        if part is body_part:
            body.append(_text_of(part, "the mail's text"))
            return
        if part is html_part:
            return  # the HTML rendering of the plain body (in a multipart/related)
        maintype = part.get_content_maintype()
        attached = _is_attachment(part)
        if not attached:
            if parent == "alternative":
                return  # another rendering of the body
            if parent == "related" and part.get("content-id"):
                # a picture of the HTML body (a logo), not a document
                cid = str(part.get("content-id")).strip().strip("<>").strip()
                payload = part.get_payload(decode=True)
                if cid and isinstance(payload, bytes) and payload:
                    resources.append((f"cid:{cid}", payload, ctype))
                return
            if maintype == "text":
                body.append(_text_of(part, "a text part of the mail"))
                return
        index = len(documents) + 1
        filename = _clean(part.get_filename() or "", 200)
        doc = MailDocument(index, filename, part.get_content_type(), b"")
        if maintype == "text" and part.get_content_subtype() in ("plain", "html", "csv"):
            data = _text_of(part, doc.label).encode("utf-8")
        else:
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        if _decode_defects(part):  # found while decoding
            raise InvalidInput(
                f"{doc.label} cannot be decoded (its {part.get('content-transfer-encoding')} "
                "encoding is broken)",
                hint="attach the file again; the mail program may have cut it",
            )
        if not data.strip():
            raise InvalidInput(f"{doc.label} is empty", hint="attach the document's content")
        documents.append(MailDocument(index, filename, doc.content_type, data))

    visit(msg, "")
    text = "\n\n".join(t.strip() for t in body if t.strip())
    html = _source_of(html_part, "the mail's HTML text") if html_part is not None else ""
    return dataclasses.replace(
        head,
        body=_clean(text, 20_000),
        documents=tuple(documents),
        html=html if html.strip() else "",
        resources=tuple(resources),
    )
