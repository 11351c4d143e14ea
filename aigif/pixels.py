"""The one entry to `aigif_codecs` (the [codecs] extra): pixel payloads and residuals.

Everything outside this module that codes pixels goes through it, so the extra is
required in one place and the residual choice (coset, codec 32, or a pixel codec's
residual) is written once.
"""

from __future__ import annotations

from . import coset, limits
from ._extras import require
from .errors import CodecError, MissingExtra, UnknownCodec


def codecs():
    """The aigif_codecs package, or MissingExtra naming the pip command."""
    require("codecs")
    # lazy: aigif_codecs is the [codecs] extra (numpy, Pillow plugins); import aigif must not need it
    import aigif_codecs

    return aigif_codecs


def list_codecs():
    return codecs().list_codecs()


def encode_pixels(image, spec: str | None = None) -> tuple[int, bytes]:
    """(codec ID, bytes) of a pixel payload; spec NAME[:RATE] as `aigif codecs` lists (default png)."""
    return codecs().encode(image, "png" if spec is None else spec)


def encode_verbatim(file_bytes: bytes) -> tuple[int, bytes]:
    """Codec 6: an image file kept as it is (after checking that it decodes)."""
    return codecs().encode_verbatim(file_bytes)


def decode_pixels(codec_id: int, data: bytes, max_pixels: int | None = None):
    """A pixel payload -> PIL.Image (at most `max_pixels`, default limits.MAX_PIXELS)."""
    try:
        return codecs().decode(codec_id, data, max_pixels=limits.MAX_PIXELS if max_pixels is None else max_pixels)
    except (CodecError, MissingExtra):
        raise
    except KeyError:
        raise UnknownCodec(f"codec ID {codec_id}") from None


def is_coset(spec: str | None) -> bool:
    """Whether a residual codec spec names the coset code (the default: it survives platform drift)."""
    return spec is None or spec.startswith("coset")


def encode_residual(original, regenerated, spec: str | None = None) -> tuple[int, bytes]:
    """(codec ID, bytes) that turn `regenerated` into `original`: the coset code (spec
    §7.4.1) unless `spec` names a pixel codec, whose residual is exact only on the
    encoder's platform (spec/codecs.md)."""
    if is_coset(spec):
        return coset.encode(original, regenerated, spec)
    return codecs().residual.encode(original, regenerated, spec)


def apply_residual(codec_id: int, data: bytes, regenerated):
    """The inverse of encode_residual, on the decoder's own regeneration."""
    if codec_id == coset.CODEC_ID:
        return coset.apply(codec_id, data, regenerated)
    return codecs().residual.decode(codec_id, data, regenerated, max_pixels=limits.MAX_PIXELS)
