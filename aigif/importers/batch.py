"""Import many images: one worker process per core, a progress line, a summary.

The worker returns plain data (no exceptions cross the process boundary), so one bad
file never stops the batch."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
VERBATIM_IMAGE_CODEC = 6  # payload codec 6: the original image file, decoded by Pillow


@dataclass
class Outcome:
    source: str
    status: str = "error"  # "imported", "partial", "refused", "no-metadata", "error"
    output: str | None = None
    tool: str | None = None
    unmapped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    exit_status: int = 0
    image_bytes: int = 0
    metadata_bytes: int = 0
    aigif_bytes: int = 0
    syntax: dict | None = None


def collect(paths) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def build_syntax(result, keep_pixels_data: bytes | None = None):
    """ImportResult -> aigif.Syntax (validated), with the original file as a payload."""
    from aigif.syntax import Payload, Syntax

    s = Syntax.from_dict(result.syntax)
    if keep_pixels_data is not None:
        # a kept copy beside the syntax: ancillary (spec §7.4), and only if it decodes
        from aigif.regenerate import _codecs

        codec_id, data = _codecs().encode_verbatim(keep_pixels_data)
        s.payloads.append(Payload(kind="pixels", codec_id=codec_id, data=data, critical=False))
    return s


def import_one(source: str, output: str | None, strict: bool = False, keep_pixels: bool = False, write: bool = True,
               provenance: bool = True) -> Outcome:
    """Import one image and (if `write`) write its .aigif; never raises for bad input."""
    from aigif.codec import encode, write_atomic
    from aigif.errors import AigifError, NoGenerationMetadata

    from . import import_image

    o = Outcome(source=source)
    try:
        o.image_bytes = os.path.getsize(source)
        r = import_image(source, provenance=provenance)
        o.tool, o.unmapped, o.warnings, o.metadata_bytes = r.tool, r.unmapped, r.warnings, r.metadata_bytes
        o.syntax = r.syntax
        if strict and r.unmapped:
            o.status, o.exit_status = "refused", 4
            o.error = f"--strict: {len(r.unmapped)} value(s) AIGIF cannot represent: " + "; ".join(r.unmapped[:5])
            return o
        pixels = None
        if keep_pixels:
            from aigif.codec import read_bytes

            pixels = read_bytes(source, what="image")
        data = encode(build_syntax(r, pixels))
        o.aigif_bytes = len(data)
        if write and output:
            write_atomic(output, data)
            o.output = output
        o.status = "partial" if r.unmapped else "imported"
    except NoGenerationMetadata as e:
        o.status, o.error, o.exit_status = "no-metadata", str(e), int(e.exit_status)
    except AigifError as e:
        o.status, o.error, o.exit_status = "error", str(e), int(e.exit_status)
    except OSError as e:
        o.status, o.error, o.exit_status = "error", f"E_IO: {source}: {e.strerror or e}", 3
    return o


def _star(args):
    return import_one(*args)


def run_batch(jobs: list[tuple], workers: int | None = None, progress: bool = True) -> list[Outcome]:
    """jobs: (source, output, strict, keep_pixels, write, provenance) tuples.  Results in job order."""
    n = len(jobs)
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    results: list[Outcome | None] = [None] * n
    show = progress and n > 1

    def tick(done: int) -> None:
        if show:
            width = 30
            filled = width * done // n
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{n}")
            sys.stderr.flush()

    if workers == 1:
        for i, job in enumerate(jobs):
            results[i] = import_one(*job)
            tick(i + 1)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_star, job): i for i, job in enumerate(jobs)}
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                tick(done)
    if show:
        sys.stderr.write("\n")
    return [r for r in results if r is not None]


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"imported": 0, "partial": 0, "refused": 0, "no-metadata": 0, "error": 0}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts
