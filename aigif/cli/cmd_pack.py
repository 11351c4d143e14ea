"""`aigif pack`: write a .aigif file from a syntax (options or JSON), optionally running
the model once to record the fidelity hash and platform, or from pixels (fallback)."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

from .. import pixels
from ..errors import ExitStatus, FileAccessError, InvalidSyntax, UnknownModel
from ..fidelity import fidelity_of
from ..fileio import read_bytes
from ..format import write
from ..jsonform import syntax_from_dict
from ..regenerate import pack_image, portable_syntax, preflight
from ..registry import get_registry, typed_model_key
from ..syntax import Payload, Syntax
from .engine_folders import add_generation_flags, folder_options
from .imageio import metadata_of, open_image, save_image
from .progress import StepReporter

OPTION_KEYS = {
    "prompt": "prompt",
    "negative": "negative_prompt",
    "seed": "seed",
    "steps": "steps",
    "guidance": "guidance",
    "width": "width",
    "height": "height",
    "scheduler": "scheduler",
    "model": "model",
}
# What `pack` generates with when neither --model nor --syntax names a model: the trained
# embedded model (tools/train_default_model.py).  Files still elide only ID 1 (tiny-sd,
# spec §5.3), so this choice is written into every file it makes and can change later.
PACK_DEFAULT_MODEL = "shapes-sd"


def add_parser(sub) -> None:
    p = sub.add_parser("pack", help="write a .aigif file", description=__doc__)
    p.add_argument("-o", "--output", required=True, help="output .aigif path")
    p.add_argument("--syntax", metavar="FILE.json", help="the syntax in its JSON form (spec §8); options below override it")
    p.add_argument("--prompt")
    p.add_argument("--negative", metavar="TEXT", help="negative prompt")
    p.add_argument("--seed", type=int, help="noise seed (default: a random 32-bit seed, printed)")
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", help="guidance scale, kept exactly as typed (7.5, 6, 3.25)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--scheduler", help="scheduler name or alias (aigif registry schedulers)")
    p.add_argument("--model", help="registry name, alias or ID, HF repo id or local diffusers folder (default: shapes-sd)")
    p.add_argument("--unregistered-model", action="store_true",
                   help="--model is a name the registry does not know: store it inline as typed (otherwise refused, with the nearest registered name)")
    p.add_argument("--ext", action="append", default=[], metavar="NAME=JSON", help="an extension, e.g. clip_skip=2")
    p.add_argument("--no-generate", action="store_true", help="write the syntax without running the model")
    p.add_argument("--no-platform", action="store_true", help="do not record the platform segment")
    p.add_argument("--save-image", metavar="PNG", help="also save the generated image (with its generation metadata)")
    p.add_argument("--no-metadata", action="store_true",
                   help="--save-image: write the pixels only, without the A1111 parameters and the AIGIF copy")
    p.add_argument("--image", metavar="PATH", help="pixels: the image to store (fallback), or the original for --residual")
    p.add_argument("--codec", default=None, metavar="NAME[:RATE]",
                   help="pixels: a codec of `aigif codecs` (default png); --residual: coset[:MARGIN] (default coset:2, "
                        "survives platform drift) or a pixel codec (exact only on the same platform)")
    p.add_argument("--mask", metavar="LABELS.png",
                   help="--codec groupmask: one integer label 0..254 per pixel (default: a built-in region split)")
    p.add_argument("--group-cap", type=float, metavar="POINTS",
                   help="--codec groupmask: no group reads more than its share of the pixels + POINTS percent of the "
                        "payload (groups over it are coded again at a lower rate; off by default: it costs rate)")
    p.add_argument("--residual", action="store_true", help="store the residual between --image and the regeneration")
    add_generation_flags(p, trust_help="with --syntax FILE.json naming a model folder or hub repo inline: load it "
                                       "(--model on this command line is trusted already)", threads_help=None)
    p.set_defaults(run=run)


def syntax_dict_from_args(args) -> dict:
    d: dict = {}
    if args.syntax:
        raw = read_bytes(args.syntax, 16 << 20, "syntax file")
        try:
            d = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InvalidSyntax(f"{args.syntax} is not valid JSON: {e}") from None
        except RecursionError:
            raise InvalidSyntax(f"{args.syntax} is nested too deeply") from None
        if not isinstance(d, dict):
            raise InvalidSyntax(f"{args.syntax} must hold a JSON object")
    for opt, key in OPTION_KEYS.items():
        value = getattr(args, opt)
        if value is not None:
            d[key] = typed_model_key(value) if opt == "model" else value
    for item in args.ext:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidSyntax(f"--ext takes NAME=JSON, not {item!r}")
        if not name:
            raise InvalidSyntax(f"--ext takes NAME=JSON, not {item!r}")
        try:
            d.setdefault("extensions", {})[name] = json.loads(value)
        except json.JSONDecodeError:
            d.setdefault("extensions", {})[name] = value
        except RecursionError:
            raise InvalidSyntax(f"--ext {name}: value nested too deeply") from None
    return d


def check_model_option(value: str, unregistered: bool) -> None:
    """--model typed by the user: a registered name or ID, an existing diffusers folder, a
    hub repo id, or (with --unregistered-model) any name; checked before anything runs."""
    reg = get_registry()
    if reg.find_model(typed_model_key(value)) is not None:
        return
    path = Path(value).expanduser()
    looks_like_path = value.startswith((".", "~", "/")) or "\\" in value or value.count("/") > 1
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise FileAccessError(f"--model {value}: the folder has no model_index.json (not a diffusers pipeline folder)")
        return
    if looks_like_path:
        raise FileAccessError(f"--model {value}: no such folder")
    if unregistered:
        return
    near = reg.suggest_model(value)
    hub_like = value.count("/") == 1 and " " not in value
    if near is not None or not hub_like:
        raise UnknownModel(
            f"model {value!r} is not in the registry" + (f"; did you mean '{near}'?" if near else "")
            + " (see `aigif registry list`; --unregistered-model stores an unregistered name as typed)",
            model=value,
        )


def check_scheduler_option(value: str) -> None:
    reg = get_registry()
    if reg.find_scheduler(value) is None:
        near = reg.suggest_scheduler(value)
        raise InvalidSyntax(f"unknown scheduler '{value}'" + (f"; did you mean '{near}'?" if near else "")
                            + " (see `aigif registry schedulers`)")


def check_output_folder(output: str) -> None:
    parent = Path(output).expanduser().parent
    if not parent.is_dir():
        raise FileAccessError(f"-o {output}: no such folder {parent}")


def run(args) -> int:
    # everything checkable without the model is checked first (a model load takes seconds to minutes)
    check_output_folder(args.output)
    if args.model is not None:
        check_model_option(args.model, args.unregistered_model)
    if args.scheduler is not None:
        check_scheduler_option(args.scheduler)
    d = syntax_dict_from_args(args)
    # Not syntax.has_generation_content: this asks whether the user gave any syntax at all.
    # A key that says nothing once parsed (an empty prompt, a platform) must still be
    # written or refused (--image without --residual), never dropped for a pixels file.
    options_given = bool(d)
    if args.image and not options_given and not args.residual:
        return _pack_pixels(args)
    if args.mask or args.group_cap is not None:  # said, not dropped
        raise InvalidSyntax("--mask and --group-cap are for storing pixels: --image with --codec groupmask "
                            "and no generation options")
    if args.residual and args.image and "width" not in d and "height" not in d:
        # the residual is over the generation at the original's size: take it from --image
        d["width"], d["height"] = open_image(args.image).size
    if "model" not in d and not args.syntax:
        d["model"] = PACK_DEFAULT_MODEL
    random_seed = "seed" not in d and not args.syntax
    if random_seed:
        d["seed"] = secrets.randbits(32)
    syntax = syntax_from_dict(d)

    if args.residual and not args.image:
        raise InvalidSyntax("--residual needs --image ORIGINAL")
    if args.image and not args.residual:
        raise InvalidSyntax("--image with generation options needs --residual (or drop the options to store the pixels)")
    if args.no_generate and (args.image or args.save_image or args.residual):
        raise InvalidSyntax("--image, --residual and --save-image need the model run: drop --no-generate")
    if args.save_image:
        check_output_folder(args.save_image)
    if not args.no_generate:
        # --model typed on this command line is the user's own choice; a model named by a
        # --syntax file is trusted only on request, like one named by a .aigif file
        trusted = args.model is not None or args.trust_inline_model
        original = open_image(args.image) if args.residual else None
        folders = folder_options(args)
        resolved = preflight(syntax, trust_inline_model=trusted)
        if original is not None and original.size != (resolved.width, resolved.height):
            raise InvalidSyntax(
                f"--image is {original.width}x{original.height} but the generation is {resolved.width}x{resolved.height}: "
                f"a residual needs the same size (drop --width/--height to take the size from --image, or give "
                f"--width {original.width} --height {original.height})"
            )
        progress = StepReporter(quiet=args.quiet)
        progress.loading()
        try:
            result = pack_image(syntax, original=original, residual_codec=args.codec, keep_platform=not args.no_platform,
                                trust_inline_model=trusted, allow_download=args.allow_download, device=args.device,
                                threads=args.threads, progress=progress, **folders)
        finally:
            progress.end_line()
        if args.save_image:  # with its generation metadata, as unpack writes images (issue 16)
            warn = lambda message: print(f"aigif: warning: {message}", file=sys.stderr)  # noqa: E731
            save_image(result.image, args.save_image, "PNG",
                       metadata=None if args.no_metadata else metadata_of(result.syntax, warn))
        if result.residual_cost is not None:  # what the residual costs and buys (issue 16)
            print(pixels.describe_residual_cost(result.residual_cost, args.codec))
        syntax = result.syntax
    else:
        syntax = portable_syntax(syntax)  # a private model by name + fingerprint (spec §6.4)
    data = write(syntax, args.output)
    print(f"wrote {args.output} ({len(data)} bytes" + (f", random seed {d['seed']})" if random_seed else ")"))
    return ExitStatus.OK


def _pack_pixels(args) -> int:
    """Fallback: a file whose content is the coded pixels (critical PIXELS segment)."""
    if args.mask and not (args.codec or "").startswith("groupmask"):
        raise InvalidSyntax("--mask is for --codec groupmask")
    if args.group_cap is not None and not (args.codec or "").startswith("groupmask"):
        raise InvalidSyntax("--group-cap is for --codec groupmask")
    if args.group_cap is not None and not 0 <= args.group_cap < 100:
        raise InvalidSyntax(f"--group-cap {args.group_cap}: percentage points 0..100")
    image = open_image(args.image)
    if args.codec == "verbatim":  # keep the file's own bytes (after checking they decode)
        codec_id, data = pixels.encode_verbatim(read_bytes(args.image, what="image"))
    else:
        codec_id, data = pixels.encode_pixels(image, args.codec, mask=open_image(args.mask, "mask") if args.mask else None,
                                              group_cap=None if args.group_cap is None else args.group_cap / 100)
    s = Syntax(payloads=[Payload("pixels", codec_id, data, True)])
    if codec_id != pixels.OMNI_ID:  # omni stores features for machines: there are no pixels to hash
        decoded = pixels.decode_pixels(codec_id, data, max_pixels=image.width * image.height)
        s.fidelity = fidelity_of(decoded)
    out = write(s, args.output)
    bpp = 8 * len(out) / (image.width * image.height)
    print(f"wrote {args.output} ({len(out)} bytes, {bpp:.3f} bpp, codec {'png' if args.codec is None else args.codec})")
    return ExitStatus.OK
