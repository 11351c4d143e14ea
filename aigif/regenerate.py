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
from .defaults import elide_defaults, resolve
from .errors import (
    InvalidSyntax,
    LimitExceeded,
    MissingExtra,
    ModelError,
    ModelMismatch,
    ModelUnavailable,
    UnsupportedError,
    VerificationFailed,
)
from .extensions import DEFAULT_ENGINE, engine_of
from .fidelity import fidelity_of, matches
from .fileio import read_bytes, write_atomic
from .format import decode, encode
from .jsonform import syntax_from_dict
from .registry import DEFAULT_MODEL_ID, PRIVATE_IDS, fingerprint_matches, get_registry, identity_fingerprint
from .syntax import Payload, Platform, ResolvedSyntax, Syntax


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
    resolved = resolve(syntax, inline_entry=identified_model(syntax))
    try:
        resolved = trusted_model(resolved, trust_inline_model)
    except ModelUnavailable as e:
        # name everything that is missing at once: the model and, for engines with user
        # folders (A1111: LoRA, VAE, embeddings), what those folders lack
        missing = dispatch.missing_inputs(resolved, **options)
        if not missing:
            raise
        raise ModelUnavailable(f"{e.args[0]}; also missing: {'; '.join(missing)}", **{**e.details, "missing": missing}) from None
    check_generation_size(resolved)
    try:
        return dispatch.generate(resolved, **options)
    except MemoryError:
        raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}") from None
    except RuntimeError as e:  # torch reports allocation failures as RuntimeError / OutOfMemoryError
        if "alloc" in str(e).lower() or "out of memory" in str(e).lower():
            raise LimitExceeded(f"out of memory generating {resolved.width}x{resolved.height}: {str(e)[:200]}") from None
        raise


def check_generation_size(resolved: ResolvedSyntax) -> None:
    """What the generator refuses whatever the model: checked before any model loads."""
    width, height = resolved.width, resolved.height
    if width * height > limits.MAX_GENERATE_PIXELS:
        raise LimitExceeded(
            f"{width}x{height} is over the regeneration limit of {limits.MAX_GENERATE_PIXELS} pixels "
            "(aigif.limits.MAX_GENERATE_PIXELS)"
        )
    if (width % 8 or height % 8) and engine_of(resolved.extensions) == DEFAULT_ENGINE:
        # the VAE halves the size three times: diffusers would fail (or crop) only after loading the model
        raise InvalidSyntax(f"width and height must be multiples of 8 to generate, not {width}x{height}")


def preflight(syntax: Syntax, *, trust_inline_model: bool = False) -> ResolvedSyntax:
    """Every check that needs no model, in the order generate_image makes them: which
    model (registry, fingerprint, trust), the size.  The CLI calls it before it prints
    "loading model", so a bad command fails in milliseconds, not after a model load."""
    resolved = trusted_model(resolve(syntax, inline_entry=identified_model(syntax)), trust_inline_model)
    check_generation_size(resolved)
    return resolved


def preflight_file(path_or_bytes, *, trust_inline_model: bool = False, reference_size: tuple[int, int] | None = None) -> bool:
    """preflight for a file: True when it regenerates (the caller may say "loading
    model…"), False when it decodes stored pixels.  A reference of another size than the
    generation is refused here (E_DIFFERS: it cannot match), before the model runs.  Model
    errors are left to unpack_image, which reports them (or falls back to kept pixels)."""
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else read_bytes(path_or_bytes)
    syntax = decode(bytes(data))
    if syntax.critical_pixels() is not None:
        return False
    try:
        resolved = preflight(syntax, trust_inline_model=trust_inline_model)
    except (ModelError, MissingExtra, UnsupportedError):
        return True
    if reference_size is not None and tuple(reference_size) != (resolved.width, resolved.height):
        raise VerificationFailed(
            f"the reference is {reference_size[0]}x{reference_size[1]} but the file regenerates "
            f"{resolved.width}x{resolved.height}: they cannot match (nothing was run)"
        )
    return True


def identified_model(syntax: Syntax):
    """The registry entry a file's model means, checked against its fingerprint (spec §6.4).

    Returns the entry that stands in for an inline name (by name, or by fingerprint when
    the name's entry is another model or absent), None to leave the model to `resolve`
    (IDs; inline names the registry does not know).  Raises ModelMismatch (exit 6) when
    the registry has the file's name or ID for weights whose fingerprint is another: a
    private ID or name means something else here, and those weights would make another
    model's image."""
    reg = get_registry()
    fp = syntax.model_fingerprint
    model = DEFAULT_MODEL_ID if syntax.model is None else syntax.model
    if isinstance(model, int):
        entry = reg.find_model(model)
        if fp is not None and entry is not None:
            verdict = fingerprint_matches(entry, fp)
            if verdict is False:
                raise _mismatch(f"model ID {model} is '{entry.name}' in this registry", entry, fp)
            if verdict is None:
                _refuse_unconfirmed(f"#{model}", entry, fp)
        return None
    by_name = reg.find_model_by_name(model)
    if fp is None:
        return by_name
    if by_name is not None and fingerprint_matches(by_name, fp):
        return by_name
    by_fingerprint = reg.model_by_fingerprint(fp.hex())
    if by_fingerprint is not None:
        return by_fingerprint
    if by_name is not None:
        return _refuse_unconfirmed(model, by_name, fp)
    return None


def _refuse_unconfirmed(name: str, entry, fp: bytes):
    if fingerprint_matches(entry, fp) is None:
        raise ModelMismatch(
            f"the file's model {name!r} has weights fingerprint {fp.hex()}, and the registry entry "
            f"'{entry.name}' (ID {entry.id}) records no weights fingerprint to compare it with, so it cannot be "
            f"confirmed to be the same model; re-add it with `aigif registry add` (which records its fingerprints)",
            model=name, fingerprint=fp.hex(),
        )
    raise _mismatch(f"model {name!r} is '{entry.name}' (ID {entry.id}) in this registry", entry, fp)


def _mismatch(what: str, entry, fp: bytes) -> ModelMismatch:
    own = identity_fingerprint(entry)
    return ModelMismatch(
        f"{what}, whose weights (fingerprint {own.hex() if own else 'not recorded'}) are not the file's "
        f"(fingerprint {fp.hex()}): regenerating would use another model. Register the file's model under "
        f"another name, or ask its author which weights it used",
        model=entry.name, fingerprint=fp.hex(),
    )


def portable_syntax(syntax: Syntax) -> Syntax:
    """What a writer stores for a private model (spec §6.4): its name inline with its
    weights fingerprint instead of the private ID (which means another model, or none, in
    any other registry), and every field its registry defaults gave written out, since an
    inline model's absent fields mean the generic defaults (§5.3).  Other syntaxes are
    returned unchanged."""
    model = syntax.model
    if not isinstance(model, int) or model not in PRIVATE_IDS:
        return syntax
    entry = get_registry().find_model(model)
    if entry is None:  # an unknown private ID: nothing here says what it is
        return syntax
    r = resolve(syntax)
    out = dataclasses.replace(
        syntax, model=entry.name, model_fingerprint=identity_fingerprint(entry) or syntax.model_fingerprint,
        negative_prompt=r.negative_prompt, steps=r.steps, guidance=r.guidance, width=r.width, height=r.height,
        scheduler=r.scheduler.id if r.scheduler is not None else None,
    )
    return elide_defaults(out)


def trusted_model(resolved, trust_inline_model: bool):
    """`resolved` with a model AIGIF may load, or ModelUnavailable (exit 6) saying how.

    A registry entry (built-in, user, or a plugin the user enabled) is the user's choice;
    identified_model has already put the entry whose name, alias or fingerprint is an
    inline name's in its place (only where weights come from; the defaults stay those of
    an inline model, spec §5.3, so the file means what it meant).  Any other inline model
    is the file's: loading it needs trust_inline_model."""
    entry = resolved.model
    if getattr(entry, "origin", "") != "inline" or trust_inline_model:
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
    platform_note: str = ""  # "platform differs: recorded threads=2, now 1" when it does

    @property
    def status_text(self) -> str:
        """The status with, for "differs", what about the platform differs (spec §7.5)."""
        return f"{self.status} ({self.platform_note})" if self.platform_note and self.status == "differs" else self.status


# A PLATFORM segment's thread count is used when regenerating on the same device class (a
# float result depends on it); a file cannot ask for more threads than this.
MAX_RECORDED_THREADS = 256
PLATFORM_KEYS = ("device", "dtype", "attention", "threads", "torch", "diffusers", "transformers", "gpu")


def recorded_threads(syntax: Syntax, options: dict) -> int | None:
    """The file's recorded thread count, when the caller gave none and runs on the recorded device class."""
    rec = syntax.platform
    if options.get("threads") is not None or rec is None or rec.threads is None:
        return None
    if rec.device != options.get("device", "cpu") or not 1 <= rec.threads <= MAX_RECORDED_THREADS:
        return None
    return rec.threads


def platform_difference(recorded: Platform | None, now: Platform | None) -> str:
    if recorded is None or now is None:
        return ""
    diffs = [f"{k}={getattr(recorded, k)}, now {getattr(now, k)}" for k in PLATFORM_KEYS
             if getattr(recorded, k) not in ("", None, "unknown") and getattr(recorded, k) != getattr(now, k)]
    return ("platform differs: recorded " + "; ".join(diffs)) if diffs else "same platform"


def unpack_image(path_or_bytes, **options) -> UnpackResult:
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray, memoryview)) else read_bytes(path_or_bytes)
    syntax = decode(bytes(data))
    stored = syntax.critical_pixels()
    if stored is not None:
        image = pixels.decode_pixels(stored.codec_id, stored.data)
        return UnpackResult(image, syntax, "pixels", fidelity_status(syntax, image))
    threads = recorded_threads(syntax, options)
    if threads is not None:
        options = {**options, "threads": threads}
    image, platform = generate_image(syntax, **options)
    residual = next((p for p in syntax.payloads if p.kind == "residual"), None)
    source = "regenerated"
    if residual is not None:
        image = pixels.apply_residual(residual.codec_id, residual.data, image)
        source = "regenerated+residual"
    return UnpackResult(image, syntax, source, fidelity_status(syntax, image), platform, platform_difference(syntax.platform, platform))


def fidelity_status(syntax: Syntax, image) -> str:
    """'bit-exact', 'differs' or 'unverified': the image against the file's FIDELITY hash."""
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
    syntax = portable_syntax(syntax)
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
