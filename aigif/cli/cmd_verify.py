"""`aigif verify`: regenerate a file's image and check it against its fidelity hash.
Files and folders (every .aigif below them), like `aigif unpack`.  Exit 0 when every file
is bit-exact, 11 when one differs, 8 when one has no FIDELITY segment to check against
(found before any model runs); with several files, the status of the first that failed."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import AigifError, ExitStatus, InvalidSyntax, NothingToVerify, VerificationFailed
from ..fileio import read_bytes
from ..format import decode
from ..regenerate import preflight, unpack_image
from .cmd_unpack import Progress, expand_inputs
from .engine_folders import add_generation_flags, folder_options
from .progress import StepReporter


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="regenerate and check the fidelity hash", description=__doc__)
    p.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    add_generation_flags(p)
    p.set_defaults(run=run)


def verify_one(path: Path, args, folders: dict, reporter: StepReporter):
    """-> UnpackResult; raises NothingToVerify before the model runs when there is no FIDELITY."""
    data = read_bytes(path)
    syntax = decode(data)
    regenerates = syntax.critical_pixels() is None
    if regenerates:
        # what is wrong with the file itself (its model, its size) first, then what verify needs
        preflight(syntax, trust_inline_model=args.trust_inline_model)
        if syntax.fidelity is None:
            raise NothingToVerify(f"{path}: no FIDELITY segment to check the regeneration against (nothing was run)")
        reporter.loading()
    try:
        result = unpack_image(data, allow_download=args.allow_download, trust_inline_model=args.trust_inline_model,
                              device=args.device, threads=args.threads, progress=reporter, **folders)
    finally:
        reporter.end_line()
    if syntax.fidelity is None:  # stored pixels: decoded (a corrupt payload says so), but nothing to check
        raise NothingToVerify(f"{path}: no FIDELITY segment to check the stored pixels against")
    return result


def run(args) -> int:
    folders = folder_options(args)  # checked before any model loads
    files = expand_inputs(args.files)
    if not files:
        raise InvalidSyntax("no .aigif files given")
    if len(files) == 1 and not Path(args.files[0]).is_dir():  # errors go straight to main's handler
        result = verify_one(files[0], args, folders, StepReporter(quiet=args.quiet))
        print(f"{files[0]}: {result.status_text} ({result.source})")
        if result.status != "bit-exact":
            raise VerificationFailed(f"{files[0]}: regenerated pixels do not match the fidelity hash")
        return ExitStatus.OK

    progress = Progress(len(files))
    counts = {"bit-exact": 0, "differs": 0, "error": 0}
    first_failure = ExitStatus.OK
    for path in files:
        reporter = StepReporter(path.name, quiet=args.quiet, bar=progress.bar)
        try:
            result = verify_one(path, args, folders, reporter)
        except AigifError as e:
            counts["error"] += 1
            first_failure = first_failure or e.exit_status
            progress.step(f"aigif: {path}: {e}", sys.stderr)
            continue
        counts[result.status if result.status in counts else "differs"] += 1
        if result.status != "bit-exact":
            first_failure = first_failure or ExitStatus.DIFFERS
        progress.step(f"{path}: {result.status_text} ({result.source})")
    progress.close()
    print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return first_failure
