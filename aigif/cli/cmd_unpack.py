"""`aigif unpack`: regenerate (or decode) the image of one or many .aigif files and say
whether it is bit-exact; with --reference, also PSNR and LPIPS against an original.

The output format follows -o's extension (.png, .jpg/.jpeg, .webp) or --format for a
directory.  Each image carries its generation syntax (A1111 `parameters` and the AIGIF
file itself, as `aigif import` reads them back) unless --no-metadata.  A file whose model
cannot run here but that keeps its original (import --keep-pixels) gives that original,
with a warning; --pixels extracts the stored pixels without regenerating."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import exporters, metrics, pixels
from ..errors import (
    AigifError,
    ExitStatus,
    FileAccessError,
    InvalidSyntax,
    MissingExtra,
    ModelError,
    UnsupportedFeature,
    VerificationFailed,
)
from ..fileio import read_bytes, write_atomic
from ..format import decode
from ..regenerate import UnpackResult, fidelity_status, preflight_file, unpack_image
from .engine_folders import add_generation_flags, folder_options
from .progress import StepReporter
from ..exporters.embed import MetadataTooLong
from .imageio import DEFAULT_QUALITY, FORMAT_SUFFIX, OUTPUT_FORMATS, format_for, metadata_of, open_image, save_image

# What stops a regeneration on this machine but not the pixels a file keeps (import
# --keep-pixels): then unpack writes those, and says so.
CANNOT_REGENERATE = (ModelError, MissingExtra, UnsupportedFeature)


def add_parser(sub) -> None:
    p = sub.add_parser("unpack", help="regenerate images from .aigif files", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("-o", "--output", required=True,
                   help="output image, its format by extension: .png, .jpg/.jpeg, .webp (one input); or a directory")
    p.add_argument("--format", choices=("png", "jpeg", "webp"), help="format of the images written into a directory (default png)")
    p.add_argument("--quality", type=int, default=DEFAULT_QUALITY, metavar="1-100",
                   help=f"JPEG and WebP quality (default {DEFAULT_QUALITY}; WebP 100 is lossless)")
    p.add_argument("--no-metadata", action="store_true",
                   help="write the pixels only: no A1111 parameters, no embedded AIGIF file")
    p.add_argument("--groups", metavar="L1,L2,...",
                   help="a group-mask file (codec groupmask): decode only these groups, reading only their streams "
                        "(the rest transparent)")
    p.add_argument("--pixels", action="store_true",
                   help="extract the pixels the file stores (pack --image, import --keep-pixels) instead of regenerating")
    p.add_argument("--reference", metavar="PNG", help="original image: report PSNR and LPIPS")
    add_generation_flags(p)
    p.set_defaults(run=run)


def expand_inputs(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += sorted(path.rglob("*.aigif"))
        else:
            files.append(path)
    return files


class Progress:
    """A progress bar on stderr for batches (tqdm when installed); silent for one file."""

    def __init__(self, total: int):
        self.bar = None
        if total > 1:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="file", file=sys.stderr)
            except ImportError:
                pass

    def step(self, message: str, stream=None) -> None:
        if self.bar is not None:
            self.bar.write(message, file=stream or sys.stdout)
            self.bar.update(1)
        else:
            print(message, file=stream or sys.stdout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def plan_outputs(files: list[Path], output: str, fmt: str | None = None) -> list[tuple[Path, str]]:
    """Where each input's image goes and in which format ('PNG', 'JPEG', 'WEBP'); refuses
    ambiguous targets before any work is done.  fmt: --format, for directory outputs."""
    out = Path(output)
    wanted = None if fmt is None else {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    by_suffix = format_for(out)
    known = ", ".join(OUTPUT_FORMATS)
    if len(files) == 1 and not out.is_dir():
        if by_suffix is not None:
            if wanted is not None and wanted != by_suffix:
                raise InvalidSyntax(f"-o {out} is a {by_suffix} name but --format says {fmt}: drop one")
            return [(out, by_suffix)]
        if out.exists():
            raise InvalidSyntax(f"-o {out}: exists and is not a directory or an image path ({known})")
        if out.suffix:
            raise InvalidSyntax(f"-o {out}: unknown image extension {out.suffix!r}: use one of {known}, "
                                "or a directory (an existing one, or a name without an extension)")
    elif by_suffix is not None and not out.is_dir():
        raise InvalidSyntax(f"-o {out}: several inputs need an output directory, not an image path")
    if out.exists() and not out.is_dir():
        raise InvalidSyntax(f"-o {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileAccessError(f"cannot create {out}: {e.strerror or e}") from None
    fmt_out = wanted or "PNG"
    targets = [out / (p.stem + FORMAT_SUFFIX[fmt_out]) for p in files]
    if len(set(targets)) != len(targets):
        raise InvalidSyntax("two inputs have the same name; unpack them into separate directories")
    return [(t, fmt_out) for t in targets]


def run(args) -> int:
    files = expand_inputs(args.inputs)
    if not files:
        raise InvalidSyntax("no .aigif files given")
    if not 1 <= args.quality <= 100:
        raise InvalidSyntax(f"--quality takes 1-100, not {args.quality}")
    reference = open_image(args.reference, "reference") if args.reference else None
    targets = plan_outputs(files, args.output, args.format)
    folders = folder_options(args)  # checked before any model loads
    allow = args.allow_download  # AIGIF_ALLOW_DOWNLOAD: read where downloads happen (diffusion.pipelines)
    batch_bar = [None]  # the batch's tqdm bar, once there is one: the step reporter writes into it

    def one(path: Path, target: Path, fmt: str, warn) -> tuple[str, str]:
        if args.groups is not None:
            result, raw = grouped_pixels(path, args.groups), None
        elif args.pixels:
            result, raw = stored_pixels(path, fmt)
        else:
            # fast checks first, then "loading model…" and step n/N on stderr (issue 16)
            reporter = StepReporter(path.name if len(files) > 1 else "", quiet=args.quiet, bar=batch_bar[0])
            if preflight_file(path, trust_inline_model=args.trust_inline_model,
                              reference_size=reference.size if reference is not None else None):
                reporter.loading()
            try:
                result, raw = _regenerate_or_kept(path, warn, allow_download=allow, trust_inline_model=args.trust_inline_model,
                                                  device=args.device, threads=args.threads, progress=reporter, **folders), None
            finally:
                reporter.end_line()
        line = _report(path, target, result, reference)
        if raw is not None:  # the original file, byte for byte: its own metadata included
            write_atomic(target, raw)
        else:
            metadata = None if args.no_metadata else metadata_of(result.syntax, warn)
            try:
                save_image(result.image, target, fmt, args.quality, metadata)
            except MetadataTooLong as e:  # a JPEG segment holds 64 KiB: the pixels still matter more
                warn(f"{e}; the image was written without it")
                save_image(result.image, target, fmt, args.quality, None)
        return line, result.status

    if len(files) == 1:  # errors go straight to main's handler: one message, on stderr
        print(one(files[0], *targets[0], lambda m: print(f"aigif: warning: {m}", file=sys.stderr))[0])
        return ExitStatus.OK

    progress = Progress(len(files))
    batch_bar[0] = progress.bar
    counts = {"bit-exact": 0, "differs": 0, "unverified": 0, "error": 0}
    first_error = ExitStatus.OK
    for path, (target, fmt) in zip(files, targets):
        warnings: list[str] = []
        try:
            line, status = one(path, target, fmt, warnings.append)
        except AigifError as e:
            counts["error"] += 1
            first_error = first_error or e.exit_status
            progress.step(f"aigif: {path}: {e}", sys.stderr)
            continue
        for w in warnings:
            print(f"aigif: warning: {path}: {w}", file=sys.stderr)
        counts[status] += 1
        progress.step(line)
    progress.close()
    print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return first_error


def _regenerate_or_kept(path: Path, warn, **options) -> UnpackResult:
    """The regeneration; or, when this machine cannot run the file's model but the file
    keeps its original (an ancillary PIXELS segment), that original, with a warning."""
    try:
        return unpack_image(path, **options)
    except CANNOT_REGENERATE as e:
        syntax = decode(read_bytes(path))
        kept = syntax.stored_pixels()
        if kept is None:
            raise
        warn(f"cannot regenerate ({e}); wrote the original image the file keeps instead")
        image = pixels.decode_pixels(kept.codec_id, kept.data)
        return UnpackResult(image, syntax, "kept original", fidelity_status(syntax, image))


def stored_pixels(path: Path, fmt: str) -> tuple[UnpackResult, bytes | None]:
    """`unpack --pixels`: the image a file stores (its critical PIXELS, else the kept
    original), and the stored file's bytes when they can be written as they are (a
    verbatim payload in the output's format)."""
    syntax = decode(read_bytes(path))
    stored = syntax.stored_pixels()
    if stored is None:
        raise InvalidSyntax(f"{path} stores no pixels (only `pack --image` and `import --keep-pixels` do): unpack it without --pixels")
    image = pixels.decode_pixels(stored.codec_id, stored.data)
    result = UnpackResult(image, syntax, "pixels" if stored.critical else "kept original", fidelity_status(syntax, image))
    raw = bytes(stored.data) if stored.codec_id == pixels.VERBATIM_ID and exporters.image_format(stored.data) == fmt else None
    return result, raw


def grouped_pixels(path: Path, groups: str) -> UnpackResult:
    """`unpack --groups 1,3`: only those groups of a file's group-mask PIXELS payload."""
    try:
        labels = sorted({int(g) for g in groups.split(",")})
    except ValueError:
        raise InvalidSyntax(f"--groups takes labels like 1,3, not {groups!r}") from None
    syntax = decode(read_bytes(path))
    stored = syntax.critical_pixels()
    if stored is None or stored.codec_id != 17:
        raise InvalidSyntax(f"{path} stores no group-mask pixels (pack --image X --codec groupmask): --groups needs them")
    image = pixels.decode_pixels(stored.codec_id, stored.data, groups=labels)
    return UnpackResult(image, syntax, f"groups {','.join(map(str, labels))}", "unverified")


def _report(path, target, result, reference) -> str:
    line = f"{path} -> {target}: {result.status_text} ({result.source})" + _what_matched(result)
    if reference is not None:
        line += "; " + compare_with_reference(result.image, reference)
    return line


def compare_with_reference(image, reference) -> str:
    if image.size != reference.size:  # E_DIFFERS, not usage: the command was well formed
        raise VerificationFailed(f"reference is {reference.width}x{reference.height} but the image is {image.width}x{image.height}")
    psnr = metrics.psnr(image, reference)
    lp, why = metrics.lpips_distance(image, reference)
    lp_text = f"LPIPS {lp:.4f}" if lp is not None else f"LPIPS unavailable ({why})"
    return f"PSNR {psnr:.2f} dB, {lp_text}"


def _what_matched(result) -> str:
    """For a lossy payload, what "bit-exact" is about: the hash is of the decoded coding
    (spec §7.3: the image unpack outputs), which is not the original's pixels."""
    if result.status != "bit-exact":
        return ""
    if result.source in ("pixels", "kept original"):
        p = result.syntax.critical_pixels() if result.source == "pixels" else result.syntax.stored_pixels()
        if p is not None and pixels.payload_is_lossless(p.codec_id, p.data) is not True:
            return f"; the hash matched is that of the stored {pixels.describe_payload(p.codec_id, p.data)} image, not of the original"
    elif result.source == "regenerated+residual":
        p = next((p for p in result.syntax.payloads if p.kind == "residual"), None)
        if p is not None and not pixels.residual_is_exact(p.codec_id, p.data):
            return "; the hash matched is that of the lossy residual's reconstruction, not of the original"
    return ""
