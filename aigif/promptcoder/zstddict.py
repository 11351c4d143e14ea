"""Text codec 2: a zstd frame compressed with the shipped prompt dictionary (spec/prompt-coder.md §6).

The frame omits its checksum and dictionary ID (the AIGIF segment has a CRC and the
codec ID fixes the dictionary) but declares its content size: that lets the decoder
check the size against the limit before decompressing and detect a truncated frame, for
0.4 B per prompt on dev.jsonl.
"""

from __future__ import annotations

import threading
from importlib import resources

from aigif.errors import InvalidText, LimitExceeded

DICT_FILE = "prompt-dict-v1.zstd"
LEVEL = 19

_state: tuple | None = None
_lock = threading.Lock()


def _coders():
    global _state
    if _state is None:
        with _lock:
            if _state is None:
                import zstandard

                raw = resources.files(__package__).joinpath("data", DICT_FILE).read_bytes()
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
