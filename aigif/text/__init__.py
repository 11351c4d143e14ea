"""Text codecs for prompt fields (spec §5.5): an ID per coding, so better coders can be
added without breaking old files.

    0  raw UTF-8
    1  zstd frame (content size declared, no dictionary)
    2  zstd frame with the shipped prompt dictionary   (spec/prompt-coder.md)
    3  AIGIF prompt model, range coded                  (spec/prompt-coder.md)
    4  brotli stream (quality 11): the floor under every field, so that no text ever
       costs more than brotli-11 of it plus the 5-bit codec ID (spec §5.5)
    5  codec 3's model under adaptive in-text models, range coded (spec/prompt-coder.md §10)
    6  codec 3's model extended with orders 5..8, range coded  (spec/prompt-coder.md §11)

The encoder tries every codec and keeps the cheapest; the decoder never trusts a
declared size beyond `limits.MAX_TEXT_BYTES`.
"""

from __future__ import annotations

from .. import limits
from ..errors import InvalidText, LimitExceeded, UnknownTextCodec
from . import promptcoder
from .frames import brotli_stream_decode, from_utf8, utf8, zstd_frame_decode

__all__ = ["ADAPTIVE_MODEL", "BROTLI", "HIGH_ORDER_MODEL", "NAMES", "PROMPT_MODEL", "RAW", "ZSTD", "ZSTD_DICT", "available", "cheapest", "decode", "encode", "from_utf8", "utf8"]

RAW, ZSTD, ZSTD_DICT, PROMPT_MODEL, BROTLI, ADAPTIVE_MODEL, HIGH_ORDER_MODEL = 0, 1, 2, 3, 4, 5, 6
NAMES = {RAW: "raw", ZSTD: "zstd", ZSTD_DICT: "zstd-dict", PROMPT_MODEL: "prompt-model", BROTLI: "brotli",
         ADAPTIVE_MODEL: "adaptive-prompt-model", HIGH_ORDER_MODEL: "high-order-prompt-model"}


def _brotli_encode(raw: bytes) -> bytes:
    import brotli  # imported on first use: `import aigif` stays light

    # Both modes at quality 11, the smaller kept: never longer than brotli.compress(raw,
    # quality=11), the yardstick of the guarantee (the mode only tunes the encoder).
    return min((brotli.compress(raw, quality=11, mode=m) for m in (brotli.MODE_GENERIC, brotli.MODE_TEXT)), key=len)


def encode(codec: int, text: str) -> bytes:
    raw = utf8(text)
    if codec == RAW:
        return raw
    if codec == ZSTD:
        import zstandard  # imported on first use: `import aigif` stays light

        return zstandard.ZstdCompressor(level=19, write_content_size=True, write_checksum=False, write_dict_id=False).compress(raw)
    if codec == ZSTD_DICT:
        return promptcoder.zstd_dict_encode(text)
    if codec == PROMPT_MODEL:
        return promptcoder.encode(text)
    if codec == BROTLI:
        return _brotli_encode(raw)
    if codec == ADAPTIVE_MODEL:
        return promptcoder.adaptive_encode(text)
    if codec == HIGH_ORDER_MODEL:
        return promptcoder.high_order_encode(text)
    raise UnknownTextCodec(f"text codec {codec}")


def decode(codec: int, data: bytes, max_bytes: int | None = None) -> str:
    """The text of one field; `max_bytes` bounds its UTF-8 (default MAX_TEXT_BYTES).

    A payload longer than MAX_TEXT_BYTES is refused before decoding (spec §5.5): an
    encoder never needs one (raw is always a candidate), and it bounds the work of every
    codec by the limit rather than by the segment size.
    """
    max_bytes = limits.MAX_TEXT_BYTES if max_bytes is None else max_bytes
    if len(data) > limits.MAX_TEXT_BYTES:
        raise LimitExceeded(f"text payload of {len(data)} bytes is over the {limits.MAX_TEXT_BYTES}-byte limit")
    if codec == RAW:
        if len(data) > max_bytes:
            raise LimitExceeded(f"text of {len(data)} bytes is over the {max_bytes}-byte limit")
        return from_utf8(data)
    if codec == ZSTD:
        return from_utf8(zstd_frame_decode(data, max_bytes))
    if codec == ZSTD_DICT:
        return promptcoder.zstd_dict_decode(data, max_bytes)
    if codec == PROMPT_MODEL:
        return promptcoder.decode(data, max_bytes)
    if codec == BROTLI:
        return from_utf8(brotli_stream_decode(data, max_bytes))
    if codec == ADAPTIVE_MODEL:
        return promptcoder.adaptive_decode(data, max_bytes)
    if codec == HIGH_ORDER_MODEL:
        return promptcoder.high_order_decode(data, max_bytes)
    raise UnknownTextCodec(f"unknown text codec {codec}")


def available() -> list[int]:
    """The codecs the encoder tries (a seam: the conformance vectors and benchmarks pin it)."""
    return [RAW, ZSTD, ZSTD_DICT, PROMPT_MODEL, BROTLI, ADAPTIVE_MODEL, HIGH_ORDER_MODEL]


def cheapest(text: str, cost) -> tuple[int, bytes]:
    """The (codec, payload) minimising cost(codec, payload) over the available codecs.

    Ties go to the lower codec ID, which is the cheaper one to decode.
    """
    utf8(text)  # refuse invalid Unicode before trying anything
    best = None
    for codec in available():
        try:
            payload = encode(codec, text)
        except (InvalidText, LimitExceeded):
            raise
        except Exception:  # a codec that cannot take this text is simply not a candidate
            continue
        c = cost(codec, payload)
        if best is None or c < best[0]:
            best = (c, codec, payload)
    return best[1], best[2]
