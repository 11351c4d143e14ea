"""Text codec 2: a zstd frame compressed with the shipped prompt dictionary (spec/prompt-coder.md §2).

The frame omits its checksum and dictionary ID (the AIGIF segment has a CRC and the
codec ID fixes the dictionary) but declares its content size: that lets the decoder
check the size against the limit before decompressing and detect a truncated frame, for
0.4 B per prompt on dev.jsonl.
"""

from __future__ import annotations

import threading
from aigif.errors import InvalidText, LimitExceeded

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


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidText(
            f"text cannot be stored: it is not valid Unicode (lone surrogate at index {exc.start})"
        ) from None


def encode(text: str) -> bytes:
    zstandard, zdict = _coders()
    # A compressor per call: ZstdCompressor objects are not thread-safe.
    cctx = zstandard.ZstdCompressor(
        level=LEVEL, dict_data=zdict, write_checksum=False, write_content_size=True, write_dict_id=False
    )
    return cctx.compress(_utf8(text))


def decode(data: bytes, max_bytes: int) -> str:
    zstandard, zdict = _coders()
    data = bytes(data)
    try:
        size = zstandard.get_frame_parameters(data).content_size
    except zstandard.ZstdError as exc:
        raise InvalidText(f"codec-2 text payload is corrupt: {exc}") from None
    if size in (zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR):
        raise InvalidText("codec-2 zstd frame must declare its content size")
    if size > max_bytes:
        raise LimitExceeded(f"codec-2 text of {size} bytes is over the {max_bytes}-byte limit")
    dobj = zstandard.ZstdDecompressor(dict_data=zdict).decompressobj()
    try:
        out = dobj.decompress(data)
    except zstandard.ZstdError as exc:
        raise InvalidText(f"codec-2 text payload is corrupt: {exc}") from None
    # A frame that lies about its size would otherwise slip past the check above.
    if not dobj.eof or dobj.unused_data or len(out) != size:
        raise InvalidText("codec-2 zstd frame is incomplete, oversized or followed by extra bytes")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"codec-2 text payload decodes to invalid UTF-8 at byte {exc.start}") from None
