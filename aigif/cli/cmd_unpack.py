"""`aigif unpack`: regenerate (or decode) the image of one or many .aigif files and say
whether it is bit-exact; with --reference, also PSNR and LPIPS against an original."""

from __future__ import annotations

import sys
from pathlib import Path

from .. import metrics
from ..errors import AigifError, ExitStatus, FileAccessError, InvalidSyntax
from ..regenerate import unpack_image
from .engine_folders import add_folder_flags, folder_options
from .imageio import open_image, save_png


def add_parser(sub) -> None:
    p = sub.add_parser("unpack", help="regenerate images from .aigif files", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("-o", "--output", required=True, help="output PNG (one input) or directory")
    p.add_argument("--reference", metavar="PNG", help="original image: report PSNR and LPIPS")
    p.add_argument("--allow-download", action="store_true", help="let diffusers download pinned weights (or AIGIF_ALLOW_DOWNLOAD=1)")
    p.add_argument("--trust-inline-model", action="store_true",
                   help="load weights from a local folder or hub repo that the file names inline (not a registry entry); only for files you trust")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    add_folder_flags(p)
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


def plan_outputs(files: list[Path], output: str) -> list[Path]:
    """Where each input's PNG goes; refuses ambiguous targets before any work is done."""
    out = Path(output)
    if len(files) == 1 and not out.is_dir():
        if out.exists() and out.suffix.lower() != ".png":
            raise InvalidSyntax(f"-o {out}: exists and is not a directory or a .png path")
        if out.suffix.lower() == ".png":
            return [out]
    elif out.suffix.lower() == ".png" and not out.is_dir():
        raise InvalidSyntax(f"-o {out}: several inputs need an output directory, not a .png path")
    if out.exists() and not out.is_dir():
        raise InvalidSyntax(f"-o {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileAccessError(f"cannot create {out}: {e.strerror or e}") from None
    targets = [out / (p.stem + ".png") for p in files]
    if len(set(targets)) != len(targets):
        raise InvalidSyntax("two inputs have the same name; unpack them into separate directories")
    return targets


def run(args) -> int:
    files = expand_inputs(args.inputs)
    if not files:
        raise InvalidSyntax("no .aigif files given")
    reference = open_image(args.reference, "reference") if args.reference else None
    targets = plan_outputs(files, args.output)
    folders = folder_options(args)  # checked before any model loads
    allow = args.allow_download  # AIGIF_ALLOW_DOWNLOAD: read where downloads happen (diffusion.pipelines)
    if len(files) == 1:  # errors go straight to main's handler: one message, on stderr
        result = unpack_image(files[0], allow_download=allow, trust_inline_model=args.trust_inline_model, device=args.device, threads=args.threads, **folders)
        line = _report(files[0], targets[0], result, reference)
        save_png(result.image, targets[0])
        print(line)
        return ExitStatus.OK

    progress = Progress(len(files))
    counts = {"bit-exact": 0, "differs": 0, "unverified": 0, "error": 0}
    first_error = ExitStatus.OK
    for path, target in zip(files, targets):
        try:
            result = unpack_image(path, allow_download=allow, trust_inline_model=args.trust_inline_model, device=args.device, threads=args.threads, **folders)
            line = _report(path, target, result, reference)
            save_png(result.image, target)
        except AigifError as e:
            counts["error"] += 1
            first_error = first_error or e.exit_status
            progress.step(f"aigif: {path}: {e}", sys.stderr)
            continue
        counts[result.status] += 1
        progress.step(line)
    progress.close()
    print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return first_error


def _report(path, target, result, reference) -> str:
    line = f"{path} -> {target}: {result.status} ({result.source})"
    if reference is not None:
        line += "; " + compare_with_reference(result.image, reference)
    return line


def compare_with_reference(image, reference) -> str:
    if image.size != reference.size:
        raise InvalidSyntax(f"reference is {reference.width}x{reference.height} but the image is {image.width}x{image.height}")
    psnr = metrics.psnr(image, reference)
    lp, why = metrics.lpips_distance(image, reference)
    lp_text = f"LPIPS {lp:.4f}" if lp is not None else f"LPIPS unavailable ({why})"
    return f"PSNR {psnr:.2f} dB, {lp_text}"
