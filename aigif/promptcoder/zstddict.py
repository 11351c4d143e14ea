"""Text codec 2: a zstd frame compressed with the shipped prompt dictionary (spec/prompt-coder.md §6).

The frame omits its checksum, content size and dictionary ID: the AIGIF segment already
has a CRC and a length, and the dictionary is fixed by the codec ID, so those 4-8 bytes
per prompt would carry nothing.
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
        level=LEVEL, dict_data=zdict, write_checksum=False, write_content_size=False, write_dict_id=False
    )
    return cctx.compress(_utf8(text))


def decode(data: bytes, max_bytes: int) -> str:
    zstandard, zdict = _coders()
    dctx = zstandard.ZstdDecompressor(dict_data=zdict)
    try:
        # Streaming read, so a frame without a content size is fine and the bound is
        # enforced while decompressing, never after.
        reader = dctx.stream_reader(bytes(data), read_across_frames=False)
        out = reader.read(max_bytes + 1)
        if len(out) > max_bytes:
            raise LimitExceeded(f"codec-2 text decompresses to more than {max_bytes} bytes")
        rest = reader.read(1)  # ensure the frame is complete (a truncated frame raises here)
        if rest:
            raise LimitExceeded(f"codec-2 text decompresses to more than {max_bytes} bytes")
    except zstandard.ZstdError as exc:
        raise InvalidText(f"codec-2 text payload is corrupt: {exc}") from None
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"codec-2 text payload decodes to invalid UTF-8 at byte {exc.start}") from None
