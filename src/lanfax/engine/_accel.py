"""The engine's compiled helper: spandsp 0.0.6 through cffi in API mode (issue #19).

In ABI mode (``_binding.open_library``) every spandsp callback is a Python function and every
20 ms tick is one Python-to-C crossing per call per direction. This module compiles, once, a
small C extension that

* declares the same functions as the ABI binding (``_binding.CDEF``), so a session uses either
  library through the same names;
* keeps each session's T.30 events and T.38 packets in a C record (``lf_sess_t``) filled by C
  callbacks: no Python runs inside spandsp at all;
* runs many ticks (``lf_run_audio``/``lf_run_t38``: a loopback until the next event) or many
  calls' ticks (``lf_tick_pairs``: every virtual pair of a process, ``lf_step_frames``: every
  RTP call's 20 ms frame) in one crossing;
* ticks SIP calls with their wire formats (``lf_tick_t38``: T.38 over IFPs or UDPTL,
  ``lf_step_rtp``: G.711 over RTP) and moves many datagrams (``lf_send_many``,
  ``lf_recv_many``) in one crossing: that C source is :mod:`lanfax.engine._accel_io`'s.

Building: ``python -m lanfax.engine._accel`` (run by ``scripts/bootstrap.sh``) or, failing
that, the first import compiles into the cache directory (``$LANFAX_ENGINE_CACHE``, else
``$XDG_CACHE_HOME/lanfax`` or ``~/.cache/lanfax``), keyed by a hash of the source, the Python
version and the platform; the build step removes the other builds nobody loaded for an hour
(:func:`prune`). It needs a C compiler, the Python headers and spandsp's headers
(``libspandsp-dev``). When any of that is missing, or ``LANFAX_ENGINE_ABI=1`` is set, the
engine uses the ABI binding with Python callbacks: slower, same behaviour. ``lanfax doctor``
says which one is in use (:func:`status`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

from lanfax.engine._accel_io import IO_CDEF, IO_HEADERS, IO_SOURCE, IO_TYPES

_log = logging.getLogger("lanfax.engine")

MODULE = "_lanfax_spandsp"

#: Only in the compiled helper.
API_CDEF = """
void lf_sess_release(lf_sess_t *x);
void lf_attach_t30(t30_state_t *t30, lf_sess_t *x);
t38_terminal_state_t *lf_t38_new(int calling_party, lf_sess_t *x);
int lf_run_audio(fax_state_t *a, fax_state_t *b, lf_sess_t *xa, lf_sess_t *xb,
                 int16_t *ba, int16_t *bb, int step, int max_steps);
int lf_run_t38(t38_terminal_state_t *a, t38_terminal_state_t *b, lf_sess_t *xa,
               lf_sess_t *xb, int step, int max_steps, int deliver, long long *counts);
int lf_tick_pairs(lf_pair_t *pairs, int n, int step, int16_t *ba, int16_t *bb, int *flagged);
int lf_step_frames(fax_state_t **states, lf_sess_t **xs, int16_t **rx, int16_t **tx, int n,
                   int step, int *flagged);
"""

#: The helper's headers; then the records both modes declare (``_binding.HELPER_CDEF``,
#: written once), then :data:`C_SOURCE`.
C_HEADERS = r"""
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <tiffio.h>
#include <spandsp.h>

"""

C_SOURCE = r"""
/* Event kinds: the same numbers as session.py's _B, _D, _E, _DCS. */
#define LF_B 0
#define LF_D 1
#define LF_E 2
#define LF_DCS 3
#define LF_ERR_EVENTS 1
#define LF_ERR_MEMORY 2

static void lf_push(lf_sess_t *x, int kind, int value)
{
    if (x->n_ev >= LF_MAX_EV) {
        x->error |= LF_ERR_EVENTS;
        return;
    }
    x->ev_kind[x->n_ev] = kind;
    x->ev_value[x->n_ev] = value;
    x->n_ev++;
}

static int lf_phase_b(t30_state_t *s, void *user_data, int result)
{
    lf_push((lf_sess_t *) user_data, LF_B, result);
    return 0;
}

static int lf_phase_d(t30_state_t *s, void *user_data, int result)
{
    lf_push((lf_sess_t *) user_data, LF_D, result);
    return 0;
}

static void lf_phase_e(t30_state_t *s, void *user_data, int code)
{
    lf_push((lf_sess_t *) user_data, LF_E, code);
}

static void lf_frame(t30_state_t *s, void *user_data, int direction, const uint8_t msg[], int len)
{
    /* Only the DCS matters: it names the modem used for the pages. */
    if (len >= 5 && (msg[2] & 0xFE) == 0x82)
        lf_push((lf_sess_t *) user_data, LF_DCS, msg[4]);
}

static int lf_tx_packet(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len,
                        int count)
{
    /* One copy whatever ``count`` asks: redundancy is the transport's business. */
    lf_sess_t *x = (lf_sess_t *) user_data;
    int seq = x->seq;
    x->seq = (x->seq + 1) & 0xFFFF;
    if (len < 0)
        return -1;
    if (x->n_pk >= x->pk_cap_n) {
        int cap = x->pk_cap_n ? 2 * x->pk_cap_n : 16;
        int *l = realloc(x->pk_len, cap * sizeof(int));
        if (l == NULL) { x->error |= LF_ERR_MEMORY; return -1; }
        x->pk_len = l;
        int *q = realloc(x->pk_seq, cap * sizeof(int));
        if (q == NULL) { x->error |= LF_ERR_MEMORY; return -1; }
        x->pk_seq = q;
        x->pk_cap_n = cap;
    }
    if (x->pk_bytes + len > x->pk_cap_bytes) {
        int cap = x->pk_cap_bytes ? 2 * x->pk_cap_bytes : 1024;
        while (cap < x->pk_bytes + len)
            cap *= 2;
        uint8_t *d = realloc(x->pk_data, cap);
        if (d == NULL) { x->error |= LF_ERR_MEMORY; return -1; }
        x->pk_data = d;
        x->pk_cap_bytes = cap;
    }
    memcpy(x->pk_data + x->pk_bytes, buf, len);
    x->pk_len[x->n_pk] = len;
    x->pk_seq[x->n_pk] = seq;
    x->pk_bytes += len;
    x->n_pk++;
    return 0;
}

static void lf_sess_release(lf_sess_t *x)
{
    free(x->pk_len);
    free(x->pk_seq);
    free(x->pk_data);
    x->pk_len = NULL;
    x->pk_seq = NULL;
    x->pk_data = NULL;
    x->pk_cap_n = x->pk_cap_bytes = x->n_pk = x->pk_bytes = 0;
}

static void lf_attach_t30(t30_state_t *t30, lf_sess_t *x)
{
    t30_set_phase_b_handler(t30, lf_phase_b, x);
    t30_set_phase_d_handler(t30, lf_phase_d, x);
    t30_set_phase_e_handler(t30, lf_phase_e, x);
    t30_set_real_time_frame_handler(t30, lf_frame, x);
}

static t38_terminal_state_t *lf_t38_new(int calling_party, lf_sess_t *x)
{
    return t38_terminal_init(NULL, calling_party, lf_tx_packet, x);
}

static inline void lf_tx_full(fax_state_t *s, int16_t *buf, int step)
{
    int got = fax_tx(s, buf, step);
    if (got < step)
        memset(buf + (got > 0 ? got : 0), 0, (step - (got > 0 ? got : 0)) * sizeof(int16_t));
}

/* Audio back to back (no impairment) until an event, an error, or max_steps. */
static int lf_run_audio(fax_state_t *a, fax_state_t *b, lf_sess_t *xa, lf_sess_t *xb,
                        int16_t *ba, int16_t *bb, int step, int max_steps)
{
    int n = 0;
    while (n < max_steps) {
        lf_tx_full(a, ba, step);
        lf_tx_full(b, bb, step);
        fax_rx(b, ba, step);
        fax_rx(a, bb, step);
        xa->samples += step;
        xb->samples += step;
        n++;
        if (xa->n_ev | xb->n_ev | xa->error | xb->error)
            break;
    }
    return n;
}

/* Hand the packets queued in ``from`` (at the start of the call) to ``to``'s core. */
static long long lf_deliver(lf_sess_t *from, t38_terminal_state_t *to, int deliver)
{
    int n = from->n_pk;
    if (n == 0)
        return 0;
    int bytes = 0;
    if (deliver) {
        t38_core_state_t *core = t38_terminal_get_t38_core_state(to);
        for (int i = 0; i < n; i++) {
            t38_core_rx_ifp_packet(core, from->pk_data + bytes, from->pk_len[i],
                                   (uint16_t) from->pk_seq[i]);
            bytes += from->pk_len[i];
        }
    } else {
        for (int i = 0; i < n; i++)
            bytes += from->pk_len[i];
    }
    /* Packets queued while delivering (answers) wait for the next tick. */
    int rest = from->n_pk - n;
    if (rest > 0) {
        memmove(from->pk_data, from->pk_data + bytes, from->pk_bytes - bytes);
        memmove(from->pk_len, from->pk_len + n, rest * sizeof(int));
        memmove(from->pk_seq, from->pk_seq + n, rest * sizeof(int));
    }
    from->n_pk = rest;
    from->pk_bytes -= bytes;
    return deliver ? n : 0;
}

/* T.38 back to back until an event, an error, or max_steps; counts[0..1] += packets. */
static int lf_run_t38(t38_terminal_state_t *a, t38_terminal_state_t *b, lf_sess_t *xa,
                      lf_sess_t *xb, int step, int max_steps, int deliver, long long *counts)
{
    int n = 0;
    while (n < max_steps) {
        t38_terminal_send_timeout(a, step);
        t38_terminal_send_timeout(b, step);
        counts[0] += lf_deliver(xa, b, deliver);
        counts[1] += lf_deliver(xb, a, deliver);
        xa->samples += step;
        xb->samples += step;
        n++;
        if (xa->n_ev | xb->n_ev | xa->error | xb->error)
            break;
    }
    return n;
}

/* One tick of every pair (kind 0: audio, through ``line`` when not NULL; 1: T.38). The
   indices of the pairs that need Python (events, an error, or their line-time limit reached) go to
   ``flagged``; returns how many. */
static int lf_tick_pairs(lf_pair_t *pairs, int n, int step, int16_t *ba, int16_t *bb,
                         int *flagged)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        lf_pair_t *p = &pairs[i];
        lf_sess_t *xa = p->xa, *xb = p->xb;
        if (p->kind == 0) {
            fax_state_t *a = (fax_state_t *) p->a, *b = (fax_state_t *) p->b;
            lf_tx_full(a, ba, step);
            lf_tx_full(b, bb, step);
            if (p->line != NULL) {
                /* What the line does to a sample (G.711 coding and decoding): a table of
                   65536 entries indexed by the sample's 16 bits. */
                const int16_t *t = p->line;
                for (int j = 0; j < step; j++) {
                    ba[j] = t[(uint16_t) ba[j]];
                    bb[j] = t[(uint16_t) bb[j]];
                }
            }
            fax_rx(b, ba, step);
            fax_rx(a, bb, step);
        } else {
            t38_terminal_state_t *a = (t38_terminal_state_t *) p->a;
            t38_terminal_state_t *b = (t38_terminal_state_t *) p->b;
            t38_terminal_send_timeout(a, step);
            t38_terminal_send_timeout(b, step);
            p->packets_ab += lf_deliver(xa, b, 1);
            p->packets_ba += lf_deliver(xb, a, 1);
        }
        xa->samples += step;
        xb->samples += step;
        p->samples += step;
        if (xa->n_ev | xb->n_ev | xa->error | xb->error || p->samples >= p->limit)
            flagged[k++] = i;
    }
    return k;
}

/* One frame of every audio call (RTP): fax_rx(rx[i]) then fax_tx(tx[i]), as step_frame. */
static int lf_step_frames(fax_state_t **states, lf_sess_t **xs, int16_t **rx, int16_t **tx,
                          int n, int step, int *flagged)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        lf_sess_t *x = xs[i];
        fax_rx(states[i], rx[i], step);
        x->samples += step;
        lf_tx_full(states[i], tx[i], step);
        if (x->n_ev | x->error)
            flagged[k++] = i;
    }
    return k;
}
"""

_lock = threading.Lock()
_state: dict[str, Any] = {}


def cache_dir() -> Path:
    explicit = os.environ.get("LANFAX_ENGINE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lanfax"


def _key() -> str:
    from lanfax.engine._binding import CDEF, HELPER_CDEF

    h = hashlib.sha256()
    for part in (
        CDEF,
        HELPER_CDEF,
        IO_TYPES,
        IO_CDEF,
        API_CDEF,
        IO_HEADERS,
        IO_SOURCE,
        C_HEADERS,
        C_SOURCE,
        sys.version,
        sysconfig.get_platform(),
    ):
        h.update(part.encode())
    return h.hexdigest()[:16]


def _target() -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return cache_dir() / f"engine-{_key()}" / f"{MODULE}{suffix}"


def _ffibuilder() -> Any:
    from cffi import FFI

    from lanfax.engine._binding import CDEF, HELPER_CDEF

    ffi = FFI()
    ffi.cdef(CDEF + HELPER_CDEF + IO_TYPES + API_CDEF + IO_CDEF)
    ffi.set_source(
        MODULE,
        C_HEADERS + IO_HEADERS + HELPER_CDEF + IO_TYPES + C_SOURCE + IO_SOURCE,
        libraries=["spandsp", "tiff"],
        include_dirs=[f"/usr/include/{d}" for d in _multiarch()],
        extra_compile_args=["-O2", "-w"],
    )
    return ffi


def _multiarch() -> list[str]:
    arch = sysconfig.get_config_var("MULTIARCH")
    return [arch] if isinstance(arch, str) and arch else []


def build(verbose: bool = False) -> Path:
    """Compile the helper into the cache (no-op when it is there); returns its path.

    Raises whatever the compiler raised (cffi's VerificationError, OSError, ...).
    """
    target = _target()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(prefix="lanfax-engine-build-") as tmp:
            built = Path(_ffibuilder().compile(tmpdir=tmp, verbose=verbose))
            staged = target.with_suffix(".tmp")
            shutil.copyfile(built, staged)
            os.replace(staged, target)
    return target


#: A build not used (loaded) for this long is old: :func:`prune` removes it.
PRUNE_AFTER = 3600.0
_USED = ".used"


def _mark_used(path: Path) -> None:
    """Stamp the build's directory as used now (what :func:`prune` looks at)."""
    with contextlib.suppress(OSError):  # a read-only cache: nothing is pruned there anyway
        (path.parent / _USED).touch()


def prune(max_age: float = PRUNE_AFTER, now: float | None = None) -> list[Path]:
    """Remove the cache's other builds (``engine-<hash>/`` of older sources, Python versions
    or platforms) not loaded for ``max_age`` seconds; the current one stays, and so does one
    that a build holds locked. Returns what was removed. (A process that still has a removed
    build loaded keeps running: the file stays mapped; a new process of that source builds it
    again, in about a second.)"""
    import time

    current = _target().parent
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        builds = sorted(cache_dir().glob("engine-*"))
    except OSError:
        return removed
    for build_dir in builds:
        if build_dir == current or not build_dir.is_dir():
            continue
        stamps = [build_dir / _USED, *build_dir.glob(f"{MODULE}*")]
        try:
            last = max((st.stat().st_mtime for st in stamps if st.exists()), default=0.0)
        except OSError:
            continue
        if now - last < max_age:
            continue
        try:
            with open(build_dir / ".lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a build in progress: skip
                shutil.rmtree(build_dir)
        except OSError:
            continue
        removed.append(build_dir)
    return removed


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(MODULE, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a file we just found
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load() -> tuple[Any, Any] | None:
    """``(ffi, lib)`` of the compiled helper, building it if needed; None for the ABI path.

    Never raises: a failed build is logged once and remembered for the process.
    """
    if "result" in _state:
        return _state["result"]  # type: ignore[no-any-return]
    with _lock:
        if "result" in _state:
            return _state["result"]  # type: ignore[no-any-return]
        result: tuple[Any, Any] | None = None
        if os.environ.get("LANFAX_ENGINE_ABI", "") not in ("", "0"):
            _state["why"] = "LANFAX_ENGINE_ABI is set"
        else:
            try:
                path = _target()
                if not path.exists():
                    path = build()
                try:
                    module = _import(path)
                except (ImportError, OSError):
                    if path.exists():
                        raise
                    module = _import(build())  # pruned meanwhile by another process
                result = (module.ffi, module.lib)
                _state["path"] = str(path)
                _mark_used(path)
            except Exception as exc:  # no compiler, no headers, read-only cache, ...
                first = (str(exc).strip().splitlines() or [""])[0]
                _state["why"] = f"{type(exc).__name__}: {first}"
                _log.warning(
                    "the compiled spandsp helper is unavailable (%s); the engine uses the "
                    "slower ABI binding (python -m lanfax.engine._accel says why)",
                    _state["why"],
                )
        _state["result"] = result
        return result


def status() -> tuple[bool, str]:
    """(compiled helper in use, a line saying which path the engine takes and why)."""
    if load() is not None:
        return True, f"compiled helper (cffi API mode, {_state.get('path', '?')})"
    return False, f"ABI fallback with Python callbacks ({_state.get('why', 'unknown')})"


def main() -> int:
    """Build the helper (verbosely on failure) and say where it is, then remove the old
    builds (:func:`prune`); 1 if it cannot be built."""
    compiler = (os.environ.get("CC") or "cc").split()
    if not compiler or shutil.which(compiler[0]) is None:
        print("lanfax: no C compiler: the engine will use the ABI binding", file=sys.stderr)
        return 1
    try:
        path = build(verbose=False)
    except Exception as exc:
        print(f"lanfax: the spandsp helper did not build: {exc}", file=sys.stderr)
        with contextlib.suppress(Exception):
            build(verbose=True)
        return 1
    _mark_used(path)
    print(f"lanfax: spandsp helper built: {path}")
    for old in prune():
        print(f"lanfax: removed an old build of the spandsp helper: {old}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
