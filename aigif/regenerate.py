"""From a syntax to pixels: regeneration through `aigif.diffusion` (torch, diffusers),
pixel payloads through `aigif_codecs`, and the residual layer on top (spec §7.4).

The core never imports this module at import time; `aigif.generate()` and
`aigif.unpack()` do, on call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import diffusion, limits
from ._extras import require
from .format import decode
from .fileio import read_bytes
from .defaults import resolve
from .errors import CodecError, LimitExceeded, MissingExtra, ModelUnavailable, UnknownCodec
from .fidelity import matches
from .jsonform import syntax_from_dict
from .registry import get_registry
from .syntax import Platform, Syntax


TRUST_FLAG = "--trust-inline-model"


def generate_image(syntax: Syntax | dict, *, trust_inline_model: bool = False, **options):
    """(PIL.Image, Platform) for a syntax; options go to aigif.diffusion.generate.

    trust_inline_model: load weights from a local folder or hub repo that the syntax names
    inline (not through a registry entry).  Off by default, because the syntax usually
    comes from a file someone else wrote, and that file must not choose which files are
    read or which repo is fetched here (`--trust-inline-model` on the CLI)."""
    if isinstance(syntax, dict):
        syntax = syntax_from_dict(syntax)
    resolved = trusted_model(resolve(syntax), trust_inline_model)
    if resolved.width * resolved.height > limits.MAX_GENERATE_PIXELS:
        raise LimitExceeded(
            f"{resolved.width}x{resolved.height} is over the regeneration limit of {limits.MAX_GENERATE_PIXELS} pixels "
            "(aigif.limits.MAX_GENERATE_PIXELS)"
        )
    try:
        return diffusion.generate(resolved, **options)
    except MemoryError:
        raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}") from None
    except RuntimeError as e:  # torch reports allocation failures as RuntimeError / OutOfMemoryError
        if "alloc" in str(e).lower() or "out of memory" in str(e).lower():
            raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}: {str(e)[:200]}") from None
        raise


def trusted_model(resolved, trust_inline_model: bool):
    """`resolved` with a model AIGIF may load, or ModelUnavailable (exit 6) saying how.

    A registry entry (built-in, user, or a plugin the user enabled) is the user's choice.
    An inline name is the file's: a registry entry whose name or alias is that inline
    name stands in for it (only where weights come from; the defaults stay those of an
    inline model, spec §5.3, so the file means what it meant), else loading it needs
    trust_inline_model."""
    entry = resolved.model
    if getattr(entry, "origin", "") != "inline":
        return resolved
    # "#5" is find_model's spelling of an ID, not a name: an inline name never means an ID
    registered = None if entry.name.startswith("#") else get_registry().find_model(entry.name)
    if registered is not None:
        return dataclasses.replace(resolved, model=registered)
    if trust_inline_model:
        return resolved
    pipe = entry.pipeline
    where = f"the local folder {pipe.get('path')}" if pipe.get("source") == "local" else f"the hub repo {pipe.get('repo')}"
    raise ModelUnavailable(
        f"model {entry.name!r} is not in the registry: the file names {where} itself, and AIGIF does not load "
        f"weights from a place that a file chooses. If you trust it, rerun "
        f"with {TRUST_FLAG} (Python: trust_inline_model=True), or register it: "
        f"`aigif registry add NAME --{'path' if pipe.get('source') == 'local' else 'repo'} ... --alias '{entry.name}'`",
        model=entry.name,
        untrusted=True,
    )


def _codecs():
    require("codecs")
    import aigif_codecs

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
