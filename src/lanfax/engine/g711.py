"""G.711 µ-law and A-law companding with numpy lookup tables (ITU-T G.711).

Encoding looks up all 65536 int16 values in a table built once from the segment rules, so a
20 ms frame costs one fancy-index. Tables are built lazily on first use.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from lanfax.model.errors import InvalidInput

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _segment(magnitude: npt.NDArray[np.int64], first_shift: int) -> npt.NDArray[np.int64]:
    """Segment number 0..7: the position of the highest set bit above ``first_shift``."""
    seg = np.zeros_like(magnitude)
    for s in range(1, 8):
        seg[magnitude >= (1 << (first_shift + s))] = s
    return seg


def _ulaw_encode_values(x: npt.NDArray[np.int64]) -> UInt8Array:
    sign = np.where(x < 0, 0x80, 0x00)
    mag = np.minimum(np.abs(x), _ULAW_CLIP) + _ULAW_BIAS
    # With the bias added, magnitudes are >= 0x84, so the top bit sits at position 7..14.
    seg = _segment(mag, 7)
    mantissa = (mag >> (seg + 3)) & 0x0F
    code = ~(sign | (seg << 4) | mantissa) & 0xFF
    out: UInt8Array = np.asarray(code, dtype=np.uint8)
    return out


def _ulaw_decode_values(code: npt.NDArray[np.int64]) -> Int16Array:
    u = ~code & 0xFF
    sign = u & 0x80
    seg = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _ULAW_BIAS) << seg) - _ULAW_BIAS
    return np.where(sign != 0, -mag, mag).astype(np.int16)


def _alaw_encode_values(x: npt.NDArray[np.int64]) -> UInt8Array:
    # A-law works on 13-bit magnitudes; the sign bit is 1 for positive values.
    sign = np.where(x >= 0, 0x80, 0x00)
    mag = np.where(x >= 0, x, -x - 1) >> 3
    mag = np.minimum(mag, 0x0FFF)
    seg = _segment(mag, 4)
    mantissa = np.where(seg == 0, mag >> 1, mag >> seg) & 0x0F
    code = (sign | (seg << 4) | mantissa) ^ 0x55
    out: UInt8Array = np.asarray(code, dtype=np.uint8)
    return out


def _alaw_decode_values(code: npt.NDArray[np.int64]) -> Int16Array:
    a = code ^ 0x55
    sign = a & 0x80
    seg = (a >> 4) & 0x07
    mantissa = a & 0x0F
    mag = np.where(seg == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (seg - 1))
    return np.where(sign != 0, mag, -mag).astype(np.int16)


@cache
def _tables(law: str) -> tuple[UInt8Array, Int16Array]:
    every_sample = np.arange(-32768, 32768, dtype=np.int64)
    every_code = np.arange(256, dtype=np.int64)
    if law == "ulaw":
        enc, dec = _ulaw_encode_values(every_sample), _ulaw_decode_values(every_code)
    else:
        enc, dec = _alaw_encode_values(every_sample), _alaw_decode_values(every_code)
    # Index the encoder by the sample's bit pattern read as uint16 (no sign arithmetic later).
    by_bits = np.empty(65536, dtype=np.uint8)
    by_bits[every_sample.astype(np.int16).view(np.uint16)] = enc
    return by_bits, dec


def _law(law: str) -> str:
    if law in ("ulaw", "mulaw", "pcmu", "u"):
        return "ulaw"
    if law in ("alaw", "pcma", "a"):
        return "alaw"
    raise InvalidInput(f"unknown G.711 law {law!r}", hint="use 'ulaw' (PCMU) or 'alaw' (PCMA)")


def tables(law: str) -> tuple[UInt8Array, Int16Array]:
    """The lookup tables of ``law``: ``(encoder, decoder)``. The encoder is indexed by a
    sample's bits read as uint16, the decoder by the code, so a caller can code a frame into
    a buffer it reuses: ``np.take(encoder, pcm.view(np.uint16), out=codes)``."""
    return _tables(_law(law))


def encode(samples: npt.ArrayLike, law: str) -> UInt8Array:
    """16-bit linear PCM to G.711 codes (one byte per sample)."""
    table, _ = _tables(_law(law))
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    return table[pcm.view(np.uint16)]


def decode(codes: npt.ArrayLike | bytes, law: str) -> Int16Array:
    """G.711 codes (bytes or uint8 array) to 16-bit linear PCM."""
    _, table = _tables(_law(law))
    if isinstance(codes, bytes | bytearray | memoryview):
        arr = np.frombuffer(codes, dtype=np.uint8)
    else:
        arr = np.asarray(codes, dtype=np.uint8)
    return table[arr]


def ulaw_encode(samples: npt.ArrayLike) -> UInt8Array:
    return encode(samples, "ulaw")


def ulaw_decode(codes: npt.ArrayLike | bytes) -> Int16Array:
    return decode(codes, "ulaw")


def alaw_encode(samples: npt.ArrayLike) -> UInt8Array:
    return encode(samples, "alaw")


def alaw_decode(codes: npt.ArrayLike | bytes) -> Int16Array:
    return decode(codes, "alaw")


def roundtrip(samples: npt.ArrayLike, law: str) -> Int16Array:
    """What the far end hears after companding: decode(encode(samples))."""
    return decode(encode(samples, law), law)
