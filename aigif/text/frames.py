"""The byte forms text fields are stored in: strict UTF-8, and one bounded zstd frame
(text codecs 1 and 2, spec §5.5 and spec/prompt-coder.md §2)."""

from __future__ import annotations

from ..errors import InvalidText, LimitExceeded


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


def zstd_frame_decode(data: bytes, max_bytes: int, dict_data=None) -> bytes:
    """One zstd frame that declares its content size, checked against `max_bytes` before
    decompressing; nothing may follow the frame (text codecs 1 and 2)."""
    import zstandard  # imported on first use: `import aigif` stays light

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


def brotli_stream_decode(data: bytes, max_bytes: int) -> bytes:
    """One complete brotli stream (RFC 7932) of at most `max_bytes` (text codec 4).

    A brotli stream declares no size, so the output is capped while decoding: the
    decompressor stops growing its buffer once it reaches the cap (it may overshoot by
    one internal block, so the work stays bounded by about twice the cap). Trailing bytes,
    a truncated stream and an empty payload are all refused.
    """
    import brotli  # imported on first use: `import aigif` stays light

    dec = brotli.Decompressor()
    try:
        out = dec.process(bytes(data), output_buffer_limit=max_bytes + 1)
    except brotli.error:
        raise InvalidText("corrupt brotli text (or bytes after the stream)") from None
    if len(out) > max_bytes or not dec.can_accept_more_data():
        raise LimitExceeded(f"brotli text decodes to more than {max_bytes} bytes")
    if not dec.is_finished():
        raise InvalidText("brotli text stream is incomplete")
    return out
