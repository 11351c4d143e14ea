#!/usr/bin/env python3
"""NVTC bitstream version 4 (per-position tables) against version 3, side by side on Kodak-24.

The same weights, lambda and encoder code each Kodak image at every Q as version 3 (the
keyed layers under the level rows of the weights) and version 4 (under the positions
file's rows, with ECVQ weighing the rates those rows give); per-image bpp, PSNR and
MS-SSIM go to a JSONL cache (an interrupted run resumes; coding is deterministic, so
`--only` splits the images over processes); the report gives the mean curves and the
BD-rates of version 4 against version 3 and of both against WebP (the WebP rows of
bench/kodak.py's cache, same images and metrics).  Decode time is recorded per payload
(CPU seconds, one thread) and reported as the v4 / v3 ratio.

  OMP_NUM_THREADS=1 python bench/nvtc_positions.py --cache /work/runs/nvtc-positions/kodak.jsonl \\
      --webp /work/runs/kodak-final/kodak.jsonl [--only 1,3,5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import kodak  # noqa: E402  (metrics, BD-rate, the codecs package)
from nvtc_one_model import bd_table, complete_images, quality_row, webp_anchor  # noqa: E402

QS = [30, 40, 50, 60, 70, 80, 90, 100]
VERSIONS = (3, 4)


def code_rows(cache: Path, only: set[int] | None) -> None:
    import torch

    from aigif_codecs.nvtc import codec, parse_rate

    torch.set_num_threads(1)
    done = set()
    if cache.exists():
        done = {(r["image"], r["version"], r["q"]) for r in map(json.loads, cache.read_text().splitlines())}
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a") as fh:
        for n, path in enumerate(kodak.images("kodak"), 1):
            if only and n not in only:
                continue
            im = Image.open(path).convert("RGB")
            ref = np.asarray(im)
            for q in QS:
                for version in VERSIONS:
                    if (path.name, version, q) in done:
                        continue
                    data = codec.encode(im, **parse_rate(str(q)), version=version)
                    row = {"image": path.name, "version": version, "q": q, **quality_row(codec, im, ref, data)}
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
            print(path.name, "done", flush=True)


def report(cache: Path, webp_cache: Path) -> str:
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    complete = complete_images(rows, len(VERSIONS) * len(QS))
    curves = {}
    for v in VERSIONS:
        curves[v] = []
        for q in QS:
            rs = [r for r in rows if r["version"] == v and r["q"] == q and r["image"] in complete]
            curves[v].append((q, float(np.mean([r["bpp"] for r in rs])), float(np.mean([r["psnr"] for r in rs])),
                              float(np.mean([r["msssim"] for r in rs])), float(sum(r["decode_cpu_s"] for r in rs))))
    anchor = webp_anchor(webp_cache, complete)

    v3, v4 = ([(b, p, m) for _, b, p, m, _ in curves[v]] for v in VERSIONS)
    lines = [f"Kodak images: {len(complete)} of 24 complete.", "",
             "| Q | v3 bpp | v4 bpp | v4 / v3 bytes | v3 PSNR | v4 PSNR | v3 MS-SSIM | v4 MS-SSIM | v4 / v3 decode CPU |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (q, b3, p3, m3, t3), (_, b4, p4, m4, t4) in zip(curves[3], curves[4]):
        lines.append(f"| {q} | {b3:.4f} | {b4:.4f} | {b4 / b3:.3f} | {p3:.3f} | {p4:.3f} | {m3:.4f} | {m4:.4f} | {t4 / t3:.2f} |")
    lines += [""] + bd_table((("version 4 vs version 3", v3, v4), ("version 3 vs WebP", anchor, v3),
                              ("version 4 vs WebP", anchor, v4)))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--webp", type=Path, required=True, help="bench/kodak.py's Kodak cache (its WebP rows)")
    ap.add_argument("--only", type=lambda v: {int(x) for x in v.split(",")}, help="Kodak image numbers (1-24)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        code_rows(args.cache, args.only)
    print(report(args.cache, args.webp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
