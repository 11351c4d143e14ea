"""Import many images: one worker process per core, a progress line, a summary.

Every file is attempted and gets its own Outcome.  The worker returns plain data (no
exception crosses the process boundary): an AigifError becomes its class and message, any
other exception (a bug in one importer) an internal error naming its type, and a worker
process that dies (a crash in C code, the kernel's OOM killer) costs only the file it was
importing, which is found by running the unfinished files again one process each."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from aigif import importers, pixels
from aigif.errors import AigifError, ExitStatus, FileAccessError, LimitExceeded, NoGenerationMetadata, UnsupportedFeature
from aigif.fileio import remove_temp_files, write_atomic
from aigif.format import encode
from aigif.jsonform import syntax_from_dict
from aigif.regenerate import portable_syntax
from aigif.syntax import Payload

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
VERBATIM_IMAGE_CODEC = 6  # payload codec 6: the original image file, decoded by Pillow

# The multiprocessing context of the worker pool; None is the platform's default.  Tests
# that patch the importer in this process set it to "fork" so that workers inherit it.
MP_CONTEXT = None


@dataclass
class Outcome:
    source: str
    status: str = "error"  # "imported", "partial", "refused", "no-metadata", "error"
    output: str | None = None
    tool: str | None = None
    unmapped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # what to print: "E_CODE: message", or "internal error (Type: message)"
    # The AigifError subclass of the failure, raised again as is for a single file; None on
    # success and for internal errors (a non-AIGIF exception: exit status 1, spec §9.2).
    error_class: type[AigifError] | None = None
    error_message: str | None = None  # the message without the code, for error_class(...)
    exit_status: int = int(ExitStatus.OK)
    traceback: str | None = None  # internal errors only: shown with AIGIF_DEBUG=1
    image_bytes: int = 0  # the image file's size, known once it is imported
    metadata_bytes: int = 0
    aigif_bytes: int = 0
    syntax: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("imported", "partial")

    def fail(self, error: AigifError, status: str = "error") -> Outcome:
        self.status = status
        self.error_class = type(error)
        self.error_message = str(error.args[0]) if error.args else ""
        self.error = str(error)
        self.exit_status = int(error.exit_status)
        return self

    def fail_internal(self, exc: BaseException) -> Outcome:
        self.status = "error"
        self.error_class = None
        self.error_message = f"{type(exc).__name__}: {exc}"
        self.error = f"internal error ({self.error_message}); rerun with AIGIF_DEBUG=1 and report it"
        self.exit_status = int(ExitStatus.FAILURE)
        self.traceback = "".join(traceback.format_exception(exc))
        return self

    def raise_error(self) -> None:
        """Raise the failure again (one-file imports: main's handler prints it once)."""
        if self.ok:
            return
        if self.error_class is not None:
            raise self.error_class(self.error_message or "")
        raise RuntimeError(self.error_message or "internal error")


def collect(paths) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def build_syntax(result, keep_pixels_data: bytes | None = None):
    """ImportResult -> aigif.Syntax (validated), with the original file as a payload.  A
    model the importer found among the user's private entries is written by name and
    fingerprint, not by its private ID (spec §6.4)."""
    s = portable_syntax(syntax_from_dict(result.syntax))
    if keep_pixels_data is not None:
        # a kept copy beside the syntax: ancillary (spec §7.4), and only if it decodes
        codec_id, data = pixels.encode_verbatim(keep_pixels_data)
        s.payloads.append(Payload(kind="pixels", codec_id=codec_id, data=data, critical=False))
    return s


def import_one(source: str, output: str | None, strict: bool = False, keep_pixels: bool = False, write: bool = True,
               provenance: bool = True, *, contain_bugs: bool = True) -> Outcome:
    """Import one image and (if `write`) write its .aigif; never raises for bad input.

    contain_bugs=True (batches): a non-AIGIF exception becomes an internal-error Outcome
    instead of propagating, so one importer bug cannot stop the other files.  A single
    file passes False, so that the CLI's own handler (and AIGIF_DEBUG) sees the bug."""
    o = Outcome(source=source)
    try:
        _import_into(o, source, output, strict, keep_pixels, write, provenance)
    except NoGenerationMetadata as e:
        o.fail(e, "no-metadata")
    except AigifError as e:
        o.fail(e)
    except OSError as e:  # an importer that opened a file itself: still the file's fault
        o.fail(FileAccessError(f"{source}: {e.strerror or e}"))
    except MemoryError:
        o.fail(LimitExceeded(f"{source}: out of memory importing it"))
    except Exception as e:
        if not contain_bugs:
            raise
        o.fail_internal(e)
    return o


def _import_into(o: Outcome, source, output, strict, keep_pixels, write, provenance) -> None:
    # one open of the file: its size, metadata and, for --keep-pixels, its bytes
    r = importers.import_image(source, provenance=provenance, keep_original=keep_pixels)  # looked up per call: tests patch it
    o.image_bytes = r.image_bytes
    o.tool, o.unmapped, o.warnings, o.metadata_bytes = r.tool, r.unmapped, r.warnings, r.metadata_bytes
    o.syntax = r.syntax
    if strict and r.unmapped:
        o.fail(UnsupportedFeature(f"--strict: {len(r.unmapped)} value(s) AIGIF cannot represent: " + "; ".join(r.unmapped[:5])),
               "refused")
        return
    data = encode(build_syntax(r, r.original if keep_pixels else None))
    o.aigif_bytes = len(data)
    if write and output:
        write_atomic(output, data)
        o.output = output
    o.status = "partial" if r.unmapped else "imported"


def _star(args):
    return import_one(*args)


def run_batch(jobs: list[tuple], workers: int | None = None, progress: bool = True) -> list[Outcome]:
    """jobs: (source, output, strict, keep_pixels, write, provenance) tuples.

    One Outcome per job, in job order, whatever happens to any one file."""
    n = len(jobs)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    results: dict[int, Outcome] = {}
    show = progress and n > 1

    def tick() -> None:
        if show:
            width = 30
            done = len(results)
            filled = width * done // n
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{n}")
            sys.stderr.flush()

    if workers == 1:
        for i, job in enumerate(jobs):
            results[i] = import_one(*job)
            tick()
    else:
        _run_pool(jobs, workers, results, tick)
    if show:
        sys.stderr.write("\n")
    return [results[i] for i in range(n)]


def _run_pool(jobs, workers, results: dict, tick) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=MP_CONTEXT) as pool:
            futures = {pool.submit(_star, job): i for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    continue  # some worker died: which file did it is found below
                except Exception as e:  # the result could not come back (e.g. not picklable)
                    results[i] = Outcome(source=str(jobs[i][0])).fail_internal(e)
                tick()
    except BrokenProcessPool:
        pass
    # A dead worker fails every file still queued in its pool without saying which one
    # killed it, and the pool terminates the other workers, perhaps mid-write: remove
    # their temporary files (never a partial file), then run each unfinished file again
    # in a process of its own.
    unfinished = [i for i in range(len(jobs)) if i not in results]
    _remove_partial_outputs(jobs[i] for i in unfinished)
    for i in unfinished:
        results[i] = _run_alone(jobs[i])
        tick()


def _remove_partial_outputs(jobs) -> None:
    for job in jobs:
        output = job[1]
        if output:
            remove_temp_files(output)


def _run_alone(job) -> Outcome:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=MP_CONTEXT) as pool:
            return pool.submit(_star, job).result()
    except BrokenProcessPool as e:
        _remove_partial_outputs([job])
        return Outcome(source=str(job[0])).fail_internal(
            RuntimeError(f"the worker process importing this file died ({e})"))
    except Exception as e:
        return Outcome(source=str(job[0])).fail_internal(e)


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"imported": 0, "partial": 0, "refused": 0, "no-metadata": 0, "error": 0}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


def batch_exit_status(outcomes: list[Outcome]) -> int:
    """0 when every file imported (fully or partially), else the exit status of the first
    file, in input order, that did not: the same rule as `aigif unpack` on many files."""
    return next((o.exit_status for o in outcomes if not o.ok), int(ExitStatus.OK))
