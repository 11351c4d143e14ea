"""Text codecs for prompt fields (spec §5.5): an ID per coding, so better coders can be
added without breaking old files.

    0  raw UTF-8
    1  zstd frame (content size declared, no dictionary)
    2  zstd frame with the shipped prompt dictionary   (spec/prompt-coder.md)
    3  AIGIF prompt model, range coded                  (spec/prompt-coder.md)

The encoder tries every codec and keeps the cheapest; the decoder never trusts a
declared size beyond `limits.MAX_TEXT_BYTES`.
"""

from __future__ import annotations

from . import limits
from .errors import InvalidText, LimitExceeded, UnknownTextCodec

RAW, ZSTD, ZSTD_DICT, PROMPT_MODEL = 0, 1, 2, 3
NAMES = {RAW: "raw", ZSTD: "zstd", ZSTD_DICT: "zstd-dict", PROMPT_MODEL: "prompt-model"}


def utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidText(f"text is not valid Unicode ({e.reason} at index {e.start}): lone surrogates cannot be stored") from None


def from_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidText(f"text field is not valid UTF-8 ({e.reason} at byte {e.start})") from None


def _zstd_encode(raw: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=19, write_content_size=True, write_checksum=False, write_dict_id=False).compress(raw)


def zstd_frame_decode(data: bytes, max_bytes: int, dict_data=None) -> bytes:
    """One zstd frame that declares its content size, checked against `max_bytes` before
    decompressing; nothing may follow the frame (text codecs 1 and 2)."""
    import zstandard

    data = bytes(data)
    try:
        params = zstandard.get_frame_parameters(data)
    except zstandard.ZstdError as e:
        raise InvalidText(f"corrupt zstd text: {e}") from None
    size = params.content_size
    if size == zstandard.CONTENTSIZE_UNKNOWN or size == zstandard.CONTENTSIZE_ERROR:
        raise InvalidText("zstd text frame must declare its content size")
    if size > max_bytes:
        raise LimitExceeded(f"text of {size} bytes is over the {max_bytes}-byte limit")
    dobj = zstandard.ZstdDecompressor(dict_data=dict_data).decompressobj()
    try:
        out = dobj.decompress(data)
    except zstandard.ZstdError as e:
        raise InvalidText(f"corrupt zstd text: {e}") from None
    if not dobj.eof or dobj.unused_data or len(out) != size:
        raise InvalidText("zstd text frame is incomplete or followed by extra bytes")
    return out


def encode(codec: int, text: str) -> bytes:
    raw = utf8(text)
    if codec == RAW:
        return raw
    if codec == ZSTD:
        return _zstd_encode(raw)
    if codec == ZSTD_DICT:
        from . import promptcoder

        return promptcoder.zstd_dict_encode(text)
    if codec == PROMPT_MODEL:
        from . import promptcoder

        return promptcoder.encode(text)
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
    if codec in (ZSTD_DICT, PROMPT_MODEL):
        fn = _promptcoder_function("zstd_dict_decode" if codec == ZSTD_DICT else "decode")
        if fn is None:
            raise UnknownTextCodec(f"text codec {codec} ({NAMES[codec]}) is not available in this build")
        return fn(data, max_bytes)
    raise UnknownTextCodec(f"unknown text codec {codec}")


def _promptcoder_function(name: str):
    try:
        from . import promptcoder
    except ImportError:
        return None
    return getattr(promptcoder, name, None)


def available() -> list[int]:
    codecs = [RAW, ZSTD]
    if _promptcoder_function("zstd_dict_encode"):
        codecs.append(ZSTD_DICT)
    if _promptcoder_function("encode"):
        codecs.append(PROMPT_MODEL)
    return codecs


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
