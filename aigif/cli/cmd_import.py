"""`aigif import`: turn images that carry generation metadata (A1111, ComfyUI, InvokeAI,
NovelAI, Fooocus, SwarmUI, ...) into .aigif files.

One file: errors are raised (exit status of the error).  Several files or a folder: each
file is imported in a worker process, a progress bar runs on stderr, and a summary ends
the run.  Every file is attempted, whatever happens to the others; each failure is listed
with its own exit status.  The exit status of the run is 0 when every file imported
(fully or partially), else that of the first file, in input order, that did not."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ExitStatus, FileAccessError, InvalidSyntax
from ..importers.batch import batch_exit_status, collect, import_one, run_batch, summary


def add_parser(sub) -> None:
    p = sub.add_parser("import", help="import generation metadata from PNG/JPEG/WebP images", description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("-o", "--output", help="OUT.aigif (one input) or a folder (default: beside each image)")
    p.add_argument("--strict", action="store_true", help="refuse images holding values AIGIF cannot represent")
    p.add_argument("--keep-pixels", action="store_true", help="also store the original image file in the .aigif")
    p.add_argument("--no-provenance", action="store_true",
                   help="leave out the writing tool and its version (smaller files; the A1111 export then omits Version)")
    p.add_argument("--json", action="store_true", help="print each result as JSON (no files written unless -o)")
    p.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: all cores)")
    p.set_defaults(run=run)


def _output_for(src: Path, out: str | None, single: bool) -> str:
    if out is None:
        return str(src.with_suffix(".aigif"))
    o = Path(out)
    if single and not o.is_dir() and o.suffix.lower() == ".aigif":
        return str(o)
    return str(o / (src.stem + ".aigif"))


def _describe(o) -> dict:
    return {
        "source": o.source,
        "status": o.status,
        "output": o.output,
        "tool": o.tool,
        "syntax": o.syntax,
        "unmapped": o.unmapped,
        "warnings": o.warnings,
        "error": o.error,
        "error_code": o.error_class.code if o.error_class else (None if o.ok else "internal"),
        "exit_status": o.exit_status,
        "metadata_bytes": o.metadata_bytes,
        "aigif_bytes": o.aigif_bytes,
        "image_bytes": o.image_bytes,
    }


def run(args) -> int:
    files = collect(args.inputs)
    if not files:
        raise InvalidSyntax("no PNG, JPEG or WebP files found in the given inputs")
    single = len(files) == 1 and not Path(args.inputs[0]).is_dir()
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() == ".aigif" and not out.is_dir():
            if not single:
                raise InvalidSyntax("several inputs need -o to be a folder, not a .aigif file")
        elif out.exists() and not out.is_dir():
            raise InvalidSyntax(f"-o {out}: exists and is not a folder")
        else:
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise FileAccessError(f"cannot create {out}: {e.strerror or e}") from None
    if args.jobs is not None and args.jobs < 1:
        raise InvalidSyntax("-j needs a positive number of worker processes")
    write = not (args.json and args.output is None)
    targets = [_output_for(f, args.output, single) for f in files]
    # x.png and x.webp in one folder would both become x.aigif: give the later ones the
    # source suffix instead of silently overwriting
    seen: set[str] = set()
    for i, (f, t) in enumerate(zip(files, targets)):
        if t in seen:
            t = str(Path(t).with_name(f"{f.stem}.{f.suffix.lstrip('.').lower()}.aigif"))
            n = 2
            while t in seen:
                t = str(Path(t).with_name(f"{f.stem}.{f.suffix.lstrip('.').lower()}-{n}.aigif"))
                n += 1
            targets[i] = t
        seen.add(t)
    jobs = [(str(f), t, args.strict, args.keep_pixels, write, not args.no_provenance) for f, t in zip(files, targets)]

    if single:
        o = import_one(*jobs[0], contain_bugs=False)
        if args.json:
            print(json.dumps(_describe(o), ensure_ascii=False, indent=2))
        if o.ok:
            _report(o, quiet=args.json)
            return ExitStatus.OK
        o.raise_error()

    outcomes = run_batch(jobs, workers=args.jobs)
    for o in outcomes:
        if args.json:
            print(json.dumps(_describe(o), ensure_ascii=False))
        else:
            _report(o, quiet=False)
    counts = summary(outcomes)
    print(
        f"{len(outcomes)} files: {counts['imported']} imported, {counts['partial']} partial, "
        f"{counts['refused']} refused (--strict), {counts['no-metadata']} without metadata, {counts['error']} errors",
        file=sys.stderr,
    )
    failed = [o for o in outcomes if not o.ok]
    if failed:  # the failures again, together, each with its own exit status
        print("failed:", file=sys.stderr)
        for o in failed:
            code = o.error_class.code if o.error_class else "internal error"
            print(f"  exit {o.exit_status:3d}  {code:20s} {o.source}", file=sys.stderr)
    return batch_exit_status(outcomes)


def _report(o, quiet: bool) -> None:
    if quiet:
        return
    if o.status in ("imported", "partial"):
        where = f" -> {o.output}" if o.output else ""
        print(f"{o.source}: {o.tool}{where} ({o.aigif_bytes} B; metadata {o.metadata_bytes} B)", file=sys.stderr)
        for item in o.unmapped:
            print(f"    not represented: {item}", file=sys.stderr)
    else:
        print(f"{o.source}: {o.error} [exit {o.exit_status}]", file=sys.stderr)
        if o.traceback and os.environ.get("AIGIF_DEBUG"):
            print(o.traceback, file=sys.stderr, end="")
