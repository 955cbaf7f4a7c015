"""lanfax.service.heap.settle (issue #19): the start-up heap leaves the cyclic collector."""

from __future__ import annotations

import subprocess
import sys


def test_settle_freezes_what_is_alive_and_later_garbage_is_still_collected() -> None:
    # In a child process: freezing is process-wide and must not touch the test runner's heap.
    code = """
import gc, weakref
from lanfax.service.heap import settle

class Node:
    pass

kept = Node(); kept.me = kept           # alive at start-up: frozen
frozen = settle()
assert frozen > 1000 and gc.get_freeze_count() == frozen, frozen
assert not any(o is kept for o in gc.get_objects())  # out of every generation
later = Node(); later.me = later        # a cycle made after start-up
probe = weakref.ref(later)
del later
gc.collect()
assert probe() is None, "garbage made after settle() was not collected"
print("ok", frozen)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")
