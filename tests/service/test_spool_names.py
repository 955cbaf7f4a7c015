"""Names in the spool (#19): from pooled kernel randomness (spool.token_hex, one os.urandom
per few hundred names), never repeated across threads and across a fork; and the relative
paths jobs store (Spool.relative without pathlib's parsing), pathlib's answers."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lanfax.service import spool


def test_names_are_hex_of_the_size_asked_and_never_repeat_across_threads() -> None:
    names: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [spool.token_hex(8) for _ in range(2000)]  # several refills each
        with lock:
            names.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == len(names) == 8000
    assert all(len(n) == 16 and int(n, 16) >= 0 for n in names)
    assert len(spool.token_hex(4)) == 8 and len(spool.token_hex(5000)) == 10000


def test_a_forked_child_does_not_hand_out_its_parents_next_names() -> None:
    spool.token_hex(8)  # the pool is filled now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next name, to the parent
        try:
            os.write(write, spool.token_hex(8).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != spool.token_hex(8)


def test_relative_is_pathlibs_answer_and_refuses_what_is_outside(tmp_path: Path) -> None:
    store = spool.Spool(tmp_path / "data")
    inside = [store.docs / "a.tif", store.tmp / "b", store.received / "3.tif", store.root / "x"]
    for path in inside:
        assert store.relative(path) == str(path.relative_to(store.root))
    for outside in (tmp_path / "data" / "spool2" / "a.tif", tmp_path / "a.tif"):
        with pytest.raises(ValueError):
            store.relative(outside)
