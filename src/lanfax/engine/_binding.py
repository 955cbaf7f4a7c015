"""cffi (ABI mode) binding to Debian's spandsp 0.0.6 (``libspandsp.so.2``).

Contract:

* Nothing is loaded at import. :func:`load` opens the library on first use, once per process,
  checks that it is the 0.0.6 ABI and installs the process-wide log handler before any state
  is created (spandsp copies the global handler into each state when that state is initialised).
* A missing library or a different ABI raises :class:`~lanfax.model.errors.EngineError` with a
  hint naming the Debian package.
* The declarations below follow the 0.0.6 headers exactly. Newer spandsp releases changed the
  phase B/D/E handler and log handler signatures and the size of ``t30_stats_t``; calling them
  through these declarations would corrupt memory, which is why the version check refuses them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from lanfax.model.errors import EngineError

LIBRARY_NAME = "libspandsp.so.2"
#: The release string 0.0.6 writes into the TIFF Software tag (informational).
EXPECTED_RELEASE = "20110122 075024"
_HINT_PACKAGE = (
    "install the Debian package libspandsp2 0.0.6 (apt-get install libspandsp2), "
    "which provides libspandsp.so.2 with the 0.0.6 ABI"
)

CDEF = """
typedef struct fax_state_s fax_state_t;
typedef struct t30_state_s t30_state_t;
typedef struct t38_terminal_state_s t38_terminal_state_t;
typedef struct t38_core_state_s t38_core_state_t;
typedef struct logging_state_s logging_state_t;

typedef struct {
    int bit_rate;
    int error_correcting_mode;
    int pages_tx;
    int pages_rx;
    int pages_in_file;
    int x_resolution;
    int y_resolution;
    int width;
    int length;
    int image_size;
    int encoding;
    int bad_rows;
    int longest_bad_row_run;
    int error_correcting_mode_retries;
    int current_status;
} t30_stats_t;

typedef int (t30_phase_b_handler_t)(t30_state_t *s, void *user_data, int result);
typedef int (t30_phase_d_handler_t)(t30_state_t *s, void *user_data, int result);
typedef void (t30_phase_e_handler_t)(t30_state_t *s, void *user_data, int completion_code);
typedef void (t30_real_time_frame_handler_t)(t30_state_t *s, void *user_data, int direction,
                                             const uint8_t msg[], int len);
typedef int (t38_tx_packet_handler_t)(t38_core_state_t *s, void *user_data,
                                      const uint8_t *buf, int len, int count);
typedef void (*message_handler_func_t)(int level, const char *text);
typedef void (*error_handler_func_t)(const char *text);

fax_state_t *fax_init(fax_state_t *s, int calling_party);
int fax_free(fax_state_t *s);
int fax_tx(fax_state_t *s, int16_t *amp, int max_len);
int fax_rx(fax_state_t *s, int16_t *amp, int len);
void fax_set_transmit_on_idle(fax_state_t *s, int transmit_on_idle);
void fax_set_tep_mode(fax_state_t *s, int use_tep);
t30_state_t *fax_get_t30_state(fax_state_t *s);
logging_state_t *fax_get_logging_state(fax_state_t *s);

t38_terminal_state_t *t38_terminal_init(t38_terminal_state_t *s, int calling_party,
                                        t38_tx_packet_handler_t *tx_packet_handler,
                                        void *tx_packet_user_data);
int t38_terminal_free(t38_terminal_state_t *s);
int t38_terminal_send_timeout(t38_terminal_state_t *s, int samples);
void t38_terminal_set_config(t38_terminal_state_t *s, int config);
t30_state_t *t38_terminal_get_t30_state(t38_terminal_state_t *s);
t38_core_state_t *t38_terminal_get_t38_core_state(t38_terminal_state_t *s);
logging_state_t *t38_terminal_get_logging_state(t38_terminal_state_t *s);
int t38_core_rx_ifp_packet(t38_core_state_t *s, const uint8_t *buf, int len, uint16_t seq_no);
logging_state_t *t38_core_get_logging_state(t38_core_state_t *s);
void t38_set_t38_version(t38_core_state_t *s, int t38_version);

int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_rx_ident(t30_state_t *s);
void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_supported_compressions(t30_state_t *s, int supported_compressions);
int t30_set_rx_encoding(t30_state_t *s, int encoding);
int t30_set_tx_page_header_info(t30_state_t *s, const char *info);
void t30_set_phase_b_handler(t30_state_t *s, t30_phase_b_handler_t *handler, void *user_data);
void t30_set_phase_d_handler(t30_state_t *s, t30_phase_d_handler_t *handler, void *user_data);
void t30_set_phase_e_handler(t30_state_t *s, t30_phase_e_handler_t *handler, void *user_data);
void t30_set_real_time_frame_handler(t30_state_t *s, t30_real_time_frame_handler_t *handler,
                                     void *user_data);
void t30_get_transfer_statistics(t30_state_t *s, t30_stats_t *t);
int t30_call_active(t30_state_t *s);
void t30_terminate(t30_state_t *s);
logging_state_t *t30_get_logging_state(t30_state_t *s);
const char *t30_completion_code_to_str(int result);
const char *t30_frametype(uint8_t x);

typedef struct g711_state_s g711_state_t;
g711_state_t *g711_init(g711_state_t *s, int mode);
int g711_free(g711_state_t *s);
int g711_encode(g711_state_t *s, uint8_t g711_data[], const int16_t amp[], int len);
int g711_decode(g711_state_t *s, int16_t amp[], const uint8_t g711_data[], int g711_bytes);

int span_log_set_level(logging_state_t *s, int level);
void span_log_set_message_handler(logging_state_t *s, message_handler_func_t func);
void span_set_message_handler(message_handler_func_t func);
void span_set_error_handler(error_handler_func_t func);

/* -- T.30 with a front end of lanfax's own (issue #16: the Class 1 modem provider) -- */
typedef void (t30_set_handler_t)(void *user_data, int type, int bit_rate, int short_train,
                                 int use_hdlc);
typedef void (t30_send_hdlc_handler_t)(void *user_data, const uint8_t msg[], int len);
t30_state_t *t30_init(t30_state_t *s, int calling_party,
                      t30_set_handler_t *set_rx_type_handler, void *set_rx_type_user_data,
                      t30_set_handler_t *set_tx_type_handler, void *set_tx_type_user_data,
                      t30_send_hdlc_handler_t *send_hdlc_handler, void *send_hdlc_user_data);
int t30_free(t30_state_t *s);
int t30_restart(t30_state_t *s);
void t30_front_end_status(void *user_data, int status);
int t30_non_ecm_get_chunk(void *user_data, uint8_t buf[], int max_len);
void t30_non_ecm_put_bit(void *user_data, int bit);
void t30_non_ecm_put_chunk(void *user_data, const uint8_t buf[], int len);
void t30_hdlc_accept(void *user_data, const uint8_t msg[], int len, int ok);
void t30_timer_update(t30_state_t *s, int samples);
"""

#: Declarations shared by both modes (the ABI fallback allocates the same record with
#: ``ffi.new`` and fills it from Python callbacks).
HELPER_CDEF = """
#define LF_MAX_EV 64
typedef struct {
    long long samples;
    int n_ev;
    int error;
    int ev_kind[64];
    int ev_value[64];
    int seq;
    int n_pk;
    int pk_bytes;
    int pk_cap_n;
    int pk_cap_bytes;
    int *pk_len;
    int *pk_seq;
    uint8_t *pk_data;
} lf_sess_t;

typedef struct {
    void *a;
    void *b;
    lf_sess_t *xa;
    lf_sess_t *xb;
    int kind;
    long long samples;
    long long limit;
    long long packets_ab;
    long long packets_ba;
    int16_t *line;
} lf_pair_t;
"""

#: Symbols that exist only in spandsp releases newer than 0.0.6 (checked with ``nm -D``).
NEWER_ONLY_SYMBOLS = ("span_log_bump_time", "t38_set_tx_packet_interval", "t30_non_ecm_get")
#: Symbols 0.0.6 has and newer releases dropped or changed (the error handler is gone later).
REQUIRED_SYMBOLS = (
    "span_set_error_handler",
    "span_log_set_error_handler",
    "fax_init",
    "t38_terminal_init",
    "t30_get_transfer_statistics",
)

#: spandsp log severities (logging.h) to Python logging levels.
SPAN_LOG_ERROR = 1
SPAN_LOG_WARNING = 2
SPAN_LOG_PROTOCOL_ERROR = 3
SPAN_LOG_PROTOCOL_WARNING = 4
SPAN_LOG_FLOW = 5
SPAN_LOG_DEBUG_3 = 10
SPAN_LOG_SHOW_PROTOCOL = 0x0800
SPAN_LOG_SEVERITY_MASK = 0x00FF

_SPAN_TO_PY = {
    SPAN_LOG_ERROR: logging.ERROR,
    SPAN_LOG_WARNING: logging.WARNING,
    SPAN_LOG_PROTOCOL_ERROR: logging.WARNING,
    SPAN_LOG_PROTOCOL_WARNING: logging.INFO,
}

#: The logger that receives messages from states lanfax cannot reach (T.4, modems).
GLOBAL_LOGGER = "lanfax.engine.spandsp"


def python_level(span_level: int) -> int:
    """The Python logging level for a spandsp severity (flow and debug map to DEBUG)."""
    return _SPAN_TO_PY.get(span_level & SPAN_LOG_SEVERITY_MASK, logging.DEBUG)


def span_level(py_level: int) -> int:
    """The most verbose spandsp severity whose messages pass ``py_level`` (0 = none)."""
    if py_level <= logging.DEBUG:
        return SPAN_LOG_DEBUG_3
    if py_level <= logging.INFO:
        return SPAN_LOG_PROTOCOL_WARNING
    if py_level <= logging.WARNING:
        return SPAN_LOG_PROTOCOL_ERROR
    if py_level <= logging.ERROR:
        return SPAN_LOG_ERROR
    return 0


@dataclass(frozen=True, slots=True)
class Spandsp:
    """The loaded library: ``ffi`` and ``lib`` plus what was learnt while loading."""

    ffi: Any
    lib: Any
    path: str
    release: str | None
    #: True when ``ffi``/``lib`` are the compiled helper (``_accel``), False for ABI mode.
    compiled: bool = False


_lock = threading.Lock()
_loaded: Spandsp | None = None
_keepalive: list[Any] = []


def _library_path() -> str:
    """The file the dynamic loader picked for libspandsp.so.2 (from /proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            for line in maps:
                if "libspandsp.so" in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return LIBRARY_NAME


def _release_string(path: str) -> str | None:
    """The 'YYYYMMDD HHMMSS' release stamp compiled into the library, if it can be found."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    marker = b"Spandsp "
    at = data.find(marker)
    if at < 0:
        return None
    raw = data[at + len(marker) : at + len(marker) + 15]
    text = raw.decode("ascii", errors="replace")
    return text if text[:8].isdigit() else None


def _check_abi(path: str) -> None:
    import ctypes

    try:
        probe = ctypes.CDLL(path)
    except OSError as exc:  # pragma: no cover - dlopen succeeded just before
        raise EngineError(f"cannot inspect {path}: {exc}", hint=_HINT_PACKAGE) from exc
    missing = [name for name in REQUIRED_SYMBOLS if not hasattr(probe, name)]
    newer = [name for name in NEWER_ONLY_SYMBOLS if hasattr(probe, name)]
    if missing or newer:
        found = "newer" if newer else "unknown"
        raise EngineError(
            f"{path} is not the spandsp 0.0.6 ABI ({found} library: "
            f"missing {missing or 'nothing'}, unexpected {newer or 'nothing'})",
            hint=_HINT_PACKAGE,
        )


def _global_message(level: int, text: Any) -> None:
    assert _loaded is not None
    msg = _loaded.ffi.string(text).decode("utf-8", "replace").rstrip("\n")
    logging.getLogger(GLOBAL_LOGGER).log(python_level(level), "%s", msg)


def _global_error(text: Any) -> None:
    assert _loaded is not None
    msg = _loaded.ffi.string(text).decode("utf-8", "replace").rstrip("\n")
    logging.getLogger(GLOBAL_LOGGER).error("%s", msg)


def open_library(library: str = LIBRARY_NAME) -> Spandsp:
    """dlopen ``library`` and check its ABI, without caching or installing log handlers.

    Raises :class:`EngineError` if the library is missing or is not the 0.0.6 ABI.
    """
    try:
        from cffi import FFI
    except ImportError as exc:
        raise EngineError(
            "the fax engine needs the Python package cffi",
            hint="install the server extra: pip install 'lanfax[server]'",
        ) from exc
    ffi = FFI()
    ffi.cdef(CDEF + HELPER_CDEF)
    try:
        lib = ffi.dlopen(library)
    except OSError as exc:
        raise EngineError(
            f"cannot load the fax engine library {library}: {exc}", hint=_HINT_PACKAGE
        ) from exc
    path = _library_path() if library == LIBRARY_NAME else library
    _check_abi(path)
    return Spandsp(ffi=ffi, lib=lib, path=path, release=_release_string(path))


def load() -> Spandsp:
    """Open spandsp once per process (thread-safe) and return it.

    Raises :class:`EngineError` if the library is missing or is not the 0.0.6 ABI.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        from lanfax.engine import _accel

        helper = _accel.load()
        if helper is None:
            result = open_library(LIBRARY_NAME)
        else:
            # The helper links libspandsp.so.2 itself: check what the loader picked.
            path = _library_path()
            _check_abi(path)
            result = Spandsp(
                ffi=helper[0],
                lib=helper[1],
                path=path,
                release=_release_string(path),
                compiled=True,
            )
        ffi, lib = result.ffi, result.lib
        _loaded = result
        # Installed before any state exists: each state copies the global handler at init.
        msg_cb = ffi.callback("message_handler_func_t", _global_message)
        err_cb = ffi.callback("error_handler_func_t", _global_error)
        _keepalive.extend((msg_cb, err_cb))
        lib.span_set_message_handler(msg_cb)
        lib.span_set_error_handler(err_cb)
        return result


_abi: Spandsp | None = None


def load_abi() -> Spandsp:
    """The ABI-mode binding even when the compiled helper is in use (tests of the fallback).

    Installs the global log handlers first if nothing was loaded yet.
    """
    global _abi
    sp = load()
    if not sp.compiled:
        return sp
    with _lock:
        if _abi is None:
            _abi = open_library(LIBRARY_NAME)
        return _abi
