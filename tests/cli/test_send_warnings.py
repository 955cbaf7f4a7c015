"""``lanfax send`` says what the pages do not show as the document asked (#15)."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run


def test_send_prints_the_conversion_warning_once(lanfax: Run, tmp_path: Path) -> None:
    doc = tmp_path / "odd.txt"
    doc.write_text("price \ue000 42\n", encoding="utf-8")
    assert lanfax("config", "set", "pause_server_queue", "true").returncode == 0
    try:
        p = lanfax("send", str(doc), "--to", "1100", "--to", "1101")
        assert p.returncode == 0, p.stderr
        assert p.stdout.count("queued job ") == 2
        warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("lanfax: warning:")]
        assert len(warnings) == 1 and "U+E000 (private use)" in warnings[0], p.stderr
        assert "odd.txt" in warnings[0]  # the file as the user named it
    finally:
        lanfax("config", "set", "pause_server_queue", "false")
