"""``tests.support.http.wait_for`` against a real (stdlib) event-stream server on loopback:
it returns once the condition holds, and a stream that only sends keep-alives makes it fail
at its deadline, naming what it waited for and the last events, instead of hanging."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.support.http import wait_for


class _Events(BaseHTTPRequestHandler):
    """Two events, then keep-alive comments every 0.1 s (as lanfax serve does every 15 s)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            self.wfile.write(b"retry: 1000\n\n")
            for i in (1, 2):
                self.wfile.write(b'id: %d\ndata: {"event_id": %d, "type": "job"}\n\n' % (i, i))
            self.wfile.flush()
            while not self.server.stopping:  # type: ignore[attr-defined]
                time.sleep(0.1)
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    server.daemon_threads = True
    server.stopping = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping = True  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def test_returns_the_condition_once_it_holds(api: str) -> None:
    calls: list[int] = []

    def cond() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0  # true after the second event

    assert wait_for(api, "the third look", cond) == 3


def test_keep_alives_alone_end_at_the_deadline_with_a_clear_message(api: str) -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as err:
        wait_for(api, "the fax on line 101", lambda: None, 5, deadline=1.0)
    took = time.monotonic() - start
    # the deadline is at least the quiet-stream timeout (5 s), then a keep-alive ends it
    assert 4.5 < took < 30, took
    message = str(err.value)
    assert message.startswith("the fax on line 101 never happened"), message
    assert "overall deadline of 5 s passed" in message, message
    assert '{"event_id": 2, "type": "job"}' in message, message


def test_a_quiet_stream_ends_at_the_timeout(api: str) -> None:
    quiet = threading.Event()

    class _Quiet(_Events):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.flush()
            quiet.wait(10)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(
            AssertionError, match=r"quiet for 0.5 s\); last events seen:\n  \(none\)"
        ):
            wait_for(f"http://127.0.0.1:{server.server_address[1]}", "x", lambda: None, 0.5)
    finally:
        quiet.set()
        server.shutdown()
        server.server_close()
