"""From a syntax to pixels: regeneration through `aigif.diffusion` (torch, diffusers),
pixel payloads through `aigif_codecs`, and the residual layer on top (spec §7.4).

The core never imports this module at import time; `aigif.generate()` and
`aigif.unpack()` do, on call.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import limits
from .codec import decode, read_bytes
from .errors import CodecError, MissingExtra, UnknownCodec, missing_extra
from .fidelity import matches
from .syntax import Platform, Syntax


def _generate_module():
    try:
        from . import diffusion
    except ImportError as e:
        raise missing_extra("generate", e.name or "torch") from None
    return diffusion


def generate_image(syntax: Syntax | dict, **options):
    """(PIL.Image, Platform) for a syntax; options go to aigif.diffusion.generate."""
    if isinstance(syntax, dict):
        syntax = Syntax.from_dict(syntax)
    resolved = syntax.resolve()
    if resolved.width * resolved.height > limits.MAX_GENERATE_PIXELS:
        from .errors import LimitExceeded

        raise LimitExceeded(
            f"{resolved.width}x{resolved.height} is over the regeneration limit of {limits.MAX_GENERATE_PIXELS} pixels "
            "(aigif.limits.MAX_GENERATE_PIXELS)"
        )
    gen = _generate_module()
    try:
        return gen.generate(resolved, **options)
    except MemoryError:
        from .errors import LimitExceeded

        raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}") from None
    except RuntimeError as e:  # torch reports allocation failures as RuntimeError / OutOfMemoryError
        if "alloc" in str(e).lower() or "out of memory" in str(e).lower():
            from .errors import LimitExceeded

            raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}: {str(e)[:200]}") from None
        raise


def _codecs():
    try:
        import aigif_codecs
    except ImportError as e:
        raise missing_extra("codecs", e.name or "aigif_codecs") from None
    return aigif_codecs


def decode_payload(payload, **kw):
    codecs = _codecs()
    try:
        return codecs.decode(payload.codec_id, payload.data, max_pixels=limits.MAX_PIXELS)
    except (CodecError, MissingExtra):
        raise
    except KeyError:
        raise UnknownCodec(f"codec ID {payload.codec_id}") from None


@dataclass
class UnpackResult:
    image: object  # PIL.Image.Image
    syntax: Syntax
    source: str  # "regenerated" | "pixels" | "regenerated+residual"
    status: str  # "bit-exact" | "differs" | "unverified"
    platform: Platform | None = None


def unpack_image(path_or_bytes, **options) -> UnpackResult:
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else read_bytes(path_or_bytes)
    syntax = decode(bytes(data))
    pixels = next((p for p in syntax.payloads if p.kind == "pixels" and p.critical), None)
    if pixels is not None:
        image = decode_payload(pixels)
        return UnpackResult(image, syntax, "pixels", _status(syntax, image))
    image, platform = generate_image(syntax, **options)
    residual = next((p for p in syntax.payloads if p.kind == "residual"), None)
    source = "regenerated"
    if residual is not None:
        from . import residual as residual_layer

        if residual.codec_id == residual_layer.CODEC_ID:
            image = residual_layer.apply(residual.codec_id, residual.data, image)
        else:  # a pixel codec's residual (spec/codecs.md): exact only on the encoder's platform
            image = _codecs().residual.decode(residual.codec_id, residual.data, image, max_pixels=limits.MAX_PIXELS)
        source = "regenerated+residual"
    return UnpackResult(image, syntax, source, _status(syntax, image), platform)


def _status(syntax: Syntax, image) -> str:
    if syntax.fidelity is None:
        return "unverified"
    try:
        return "bit-exact" if matches(syntax.fidelity, image) else "differs"
    except ValueError:
        return "unverified"
