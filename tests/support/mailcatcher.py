"""A real SMTP server (aiosmtpd, in its own thread) that keeps the mails it is sent, so a
test can wait for lanfax's replies and receipts and read them."""

from __future__ import annotations

import email
import socket
import threading
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Keep:
    def __init__(self, catcher: MailCatcher) -> None:
        self.catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(msg, EmailMessage)
        with self.catcher.cond:
            self.catcher.messages.append((list(envelope.rcpt_tos), msg))
            self.catcher.cond.notify_all()
        return "250 OK"


class MailCatcher:
    """``with MailCatcher() as mc:`` ... ``mc.wait_for(lambda m: ..., timeout)``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.cond = threading.Condition()
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> MailCatcher:
        self._controller.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._controller.stop()

    def toml(self, sender: str = "lanfax@fax.example.org") -> str:
        """A ``[receipts]`` section that mails through this server."""
        return (
            "[receipts]\n"
            f'smtp_host = "127.0.0.1"\nsmtp_port = {self.port}\nsecurity = "none"\n'
            f'sender = "{sender}"\nretry_base = 1\n'
        )

    def wait_for(self, match: Any, timeout: float = 60.0, count: int = 1) -> list[EmailMessage]:
        """The first ``count`` mails ``match(rcpts, msg)`` accepts, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [m for rc, m in self.messages if match(rc, m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(rc, str(m["subject"])) for rc, m in self.messages]
                    raise AssertionError(f"no such mail after {timeout} s; got {seen}")
                self.cond.wait(left)
