"""Text codec 2: a zstd frame compressed with the shipped prompt dictionary (spec/prompt-coder.md §2).

The frame omits its checksum and dictionary ID (the AIGIF segment has a CRC and the
codec ID fixes the dictionary) but declares its content size: that lets the decoder
check the size against the limit before decompressing and detect a truncated frame, for
0.4 B per prompt on dev.jsonl.
"""

from __future__ import annotations

import threading

from ..frames import from_utf8, utf8, zstd_frame_decode

from .model import load_data_file

DICT_FILE = "prompt-dict-v1.zstd"
DICT_SHA256 = "bc71cf612b4eb0403a6d9fd8881bc412c529dae2e8d0fcc6d19cf9765ec0541a"
LEVEL = 19

_state: tuple | None = None
_lock = threading.Lock()


def _coders():
    global _state
    if _state is None:
        with _lock:
            if _state is None:
                import zstandard

                raw = load_data_file(DICT_FILE, DICT_SHA256)
                zdict = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_AUTO)
                zdict.precompute_compress(level=LEVEL)
                _state = (zstandard, zdict)
    return _state


def encode(text: str) -> bytes:
    zstandard, zdict = _coders()
    # A compressor per call: ZstdCompressor objects are not thread-safe.
    cctx = zstandard.ZstdCompressor(
        level=LEVEL, dict_data=zdict, write_checksum=False, write_content_size=True, write_dict_id=False
    )
    return cctx.compress(utf8(text))


def decode(data: bytes, max_bytes: int) -> str:
    _, zdict = _coders()
    return from_utf8(zstd_frame_decode(data, max_bytes, zdict))
