"""From a syntax to pixels and back: regeneration through `aigif.diffusion` (torch,
diffusers or the A1111 engine, chosen by the syntax's semantics), pixel payloads and residuals through `aigif.pixels` (spec §7.4).

    generate_image  syntax -> (image, platform)
    unpack_image    .aigif file -> image (regenerated, decoded, + residual), verified
    pack_image      syntax (+ original) -> the syntax to write: platform, residual, fidelity

The core never imports this module at import time; `aigif.generate()`, `aigif.unpack()`
and `aigif.pack()` do, on call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from . import limits, pixels
from .diffusion import dispatch
from .defaults import resolve
from .errors import LimitExceeded, ModelUnavailable
from .fidelity import fidelity_of, matches
from .fileio import read_bytes, write_atomic
from .format import decode, encode
from .jsonform import syntax_from_dict
from .registry import get_registry
from .syntax import Payload, Platform, Syntax


TRUST_FLAG = "--trust-inline-model"


def generate_image(syntax: Syntax | dict, *, trust_inline_model: bool = False, **options):
    """(PIL.Image, Platform) for a syntax, by the engine its semantics name
    (aigif.diffusion.dispatch: diffusers, a1111); options go to that engine
    (device, threads, progress, allow_download; lora_dir/embeddings_dir/vae_dir for a1111).

    trust_inline_model: load weights from a local folder or hub repo that the syntax names
    inline (not through a registry entry).  Off by default, because the syntax usually
    comes from a file someone else wrote, and that file must not choose which files are
    read or which repo is fetched here (`--trust-inline-model` on the CLI)."""
    if isinstance(syntax, dict):
        syntax = syntax_from_dict(syntax)
    resolved = resolve(syntax)
    try:
        resolved = trusted_model(resolved, trust_inline_model)
    except ModelUnavailable as e:
        # name everything that is missing at once: the model and, for engines with user
        # folders (A1111: LoRA, VAE, embeddings), what those folders lack
        missing = dispatch.missing_inputs(resolved, **options)
        if not missing:
            raise
        raise ModelUnavailable(f"{e.args[0]}; also missing: {'; '.join(missing)}", **{**e.details, "missing": missing}) from None
    if resolved.width * resolved.height > limits.MAX_GENERATE_PIXELS:
        raise LimitExceeded(
            f"{resolved.width}x{resolved.height} is over the regeneration limit of {limits.MAX_GENERATE_PIXELS} pixels "
            "(aigif.limits.MAX_GENERATE_PIXELS)"
        )
    try:
        return dispatch.generate(resolved, **options)
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
    stored = next((p for p in syntax.payloads if p.kind == "pixels" and p.critical), None)
    if stored is not None:
        image = pixels.decode_pixels(stored.codec_id, stored.data)
        return UnpackResult(image, syntax, "pixels", _status(syntax, image))
    image, platform = generate_image(syntax, **options)
    residual = next((p for p in syntax.payloads if p.kind == "residual"), None)
    source = "regenerated"
    if residual is not None:
        image = pixels.apply_residual(residual.codec_id, residual.data, image)
        source = "regenerated+residual"
    return UnpackResult(image, syntax, source, _status(syntax, image), platform)


def _status(syntax: Syntax, image) -> str:
    if syntax.fidelity is None:
        return "unverified"
    try:
        return "bit-exact" if matches(syntax.fidelity, image) else "differs"
    except ValueError:
        return "unverified"


@dataclass
class PackResult:
    syntax: Syntax  # ready to write: platform, residual payload and fidelity filled in
    image: object  # PIL.Image.Image: the regenerated image (before any residual)
    residual_cost: dict | None = None  # pixels.residual_cost: bytes, PSNR with and without it


def pack_image(syntax: Syntax | dict, *, original=None, residual_codec: str | None = None, keep_platform: bool = True,
               trust_inline_model: bool = False, **options) -> PackResult:
    """Run the model for `syntax` and complete it for writing (spec §7.3, §7.4, §7.5).

    original: a PIL image the file must reproduce; then a RESIDUAL payload turns the
    regeneration into it, with the coset code (codec 32, survives platform drift) unless
    residual_codec names a pixel codec ("png", ...: exact only on this platform).
    keep_platform: record what ran the model (PLATFORM segment).
    The FIDELITY hash is of the pixels a reader of the file gets back.  `syntax` itself is
    not changed; options go to generate_image (device, threads, allow_download, ...).
    """
    syntax = syntax_from_dict(syntax) if isinstance(syntax, dict) else dataclasses.replace(syntax, payloads=list(syntax.payloads))
    image, platform = generate_image(syntax, trust_inline_model=trust_inline_model, **options)
    if keep_platform:
        syntax.platform = platform
    final = image
    if original is not None:
        codec_id, data = pixels.encode_residual(original, image, residual_codec)
        syntax.payloads.append(Payload("residual", codec_id, data, True))
        # the hash of what a reader gets back (spec §7.3): the original for an exact
        # residual, the lossy reconstruction otherwise (never a hash no decoder matches)
        cost = pixels.residual_cost(original, image, codec_id, data)
        final = cost.pop("restored")
    syntax.fidelity = fidelity_of(final)
    return PackResult(syntax, image, cost if original is not None else None)


def pack(syntax: Syntax | dict, path=None, **options) -> bytes:
    """The .aigif file of `syntax` after running the model (see pack_image for the options),
    written atomically to `path` when one is given."""
    data = encode(pack_image(syntax, **options).syntax)
    if path is not None:
        write_atomic(path, data)
    return data
