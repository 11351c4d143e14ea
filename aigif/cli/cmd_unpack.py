"""`aigif unpack`: regenerate (or decode) the image of one or many .aigif files and say
whether it is bit-exact; with --reference, also PSNR and LPIPS against an original."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import AigifError, ExitStatus, InvalidSyntax


def add_parser(sub) -> None:
    p = sub.add_parser("unpack", help="regenerate images from .aigif files", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("-o", "--output", required=True, help="output PNG (one input) or directory")
    p.add_argument("--reference", metavar="PNG", help="original image: report PSNR and LPIPS")
    p.add_argument("--allow-download", action="store_true", help="let diffusers download pinned weights (or AIGIF_ALLOW_DOWNLOAD=1)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
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
    """A progress line on stderr (tqdm when installed); silent for a single file."""

    def __init__(self, total: int):
        self.bar = None
        if total > 1:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="file", file=sys.stderr)
            except ImportError:
                self.total, self.done = total, 0

    def step(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stdout)
            self.bar.update(1)
        else:
            print(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args) -> int:
    import os

    from ..cli.cmd_pack import _save_png
    from ..regenerate import unpack_image

    files = expand_inputs(args.inputs)
    if not files:
        raise InvalidSyntax("no .aigif files given")
    out = Path(args.output)
    single = len(files) == 1 and out.suffix.lower() == ".png"
    if not single:
        out.mkdir(parents=True, exist_ok=True)
    allow = args.allow_download or os.environ.get("AIGIF_ALLOW_DOWNLOAD") == "1"
    progress = Progress(len(files))
    counts = {"bit-exact": 0, "differs": 0, "unverified": 0, "error": 0}
    worst = ExitStatus.OK
    for path in files:
        target = out if single else out / (path.stem + ".png")
        try:
            result = unpack_image(path, allow_download=allow, device=args.device, threads=args.threads)
            _save_png(result.image, target)
        except AigifError as e:
            counts["error"] += 1
            worst = worst or e.exit_status
            progress.step(f"{path}: {e}")
            if len(files) == 1:
                progress.close()
                raise
            continue
        counts[result.status] += 1
        line = f"{path} -> {target}: {result.status} ({result.source})"
        if args.reference:
            line += "; " + compare_with_reference(result.image, args.reference)
        progress.step(line)
    progress.close()
    if len(files) > 1:
        print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return worst


def compare_with_reference(image, reference: str) -> str:
    from PIL import Image

    from .. import metrics

    try:
        ref = Image.open(reference)
        ref.load()
    except OSError as e:
        raise AigifError(f"cannot read reference {reference}: {e}") from None
    psnr = metrics.psnr(image, ref)
    lp, why = metrics.lpips_distance(image, ref)
    lp_text = f"LPIPS {lp:.4f}" if lp is not None else f"LPIPS unavailable ({why})"
    return f"PSNR {psnr:.2f} dB, {lp_text}"
