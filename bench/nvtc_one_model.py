#!/usr/bin/env python3
"""One NVTC model for every rate, against the shipped pair of band models (issue 13).

`nvtc:Q` codes with model 4 (tuned over lambda 32..256) below Q 70 and model 5 (256..2048)
from Q 70.  A candidate single model, tuned over the whole band 32..2048 by
tools/tune_nvtc.py, is coded beside them at the same Q points on Kodak-24, in one run:
per-image bpp, PSNR and MS-SSIM are appended to a JSONL cache (an interrupted run resumes;
the coding is deterministic, so `--only` splits the images over processes), then the
report gives the mean curves and the BD-rates of the single model against the pair and of
both against WebP (the WebP rows of bench/kodak.py's cache, same images and metrics).

  python tools/tune_nvtc.py export --name t3 --rate 6 --out /work/runs/nvtc-tune/t3.safetensors
  OMP_NUM_THREADS=1 python bench/nvtc_one_model.py --weights /work/runs/nvtc-tune/t3.safetensors \
      --cache /work/runs/nvtc-tune/one-model.jsonl --webp /work/runs/kodak-final/kodak.jsonl [--only 1,3,5]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import kodak  # noqa: E402  (metrics, BD-rate, the codecs package)
from nvtc_tuning import register  # noqa: E402

QS = [30, 40, 50, 60, 70, 80, 90, 100]
CANDIDATE = 6  # the number the candidate weights are registered under, in this process only


def ms_ssim_db(m: float) -> float:
    """MS-SSIM in dB, -10 log10(1 - m): the scale BD-rates over MS-SSIM are taken on."""
    return -10 * math.log10(1 - m)


def quality_row(codec, im: Image.Image, ref: np.ndarray, data: bytes) -> dict:
    """bpp, PSNR, MS-SSIM and decode CPU seconds of one NVTC payload of im."""
    t = time.process_time()
    rec = np.asarray(codec.decode(data, max_pixels=1 << 28).convert("RGB"))
    return {"decode_cpu_s": time.process_time() - t, "bpp": 8 * len(data) / (im.width * im.height),
            "psnr": kodak.psnr(ref, rec), "msssim": kodak.ms_ssim(ref, rec)}


def complete_images(rows: list[dict], per_image: int) -> list[str]:
    """The images of the cache with all their rows (an interrupted run leaves some short)."""
    names = sorted({r["image"] for r in rows})
    return [n for n in names if sum(r["image"] == n for r in rows) == per_image]


def webp_anchor(webp_cache: Path, images: list[str]) -> list[tuple[float, float, float]]:
    """(bpp, PSNR, MS-SSIM) of every lossy WebP point of bench/kodak.py's cache over these images."""
    webp = kodak.summarize(webp_cache, set(images))["table"]
    return [(v["bpp"], v["psnr"], v["msssim"]) for s, v in webp.items() if s.startswith("webp:") and s != "webp:lossless"]


def bd_table(comparisons) -> list[str]:
    """Markdown lines: the PSNR and MS-SSIM BD-rates of each (label, anchor points, test points)."""
    fmt = lambda x: "-" if x is None else f"{x:+.1f} %"  # noqa: E731
    lines = ["| BD-rate | PSNR | MS-SSIM |", "|---|---:|---:|"]
    for label, anchor, test in comparisons:
        p, m = bd_psnr_msssim(anchor, test)
        lines.append(f"| {label} | {fmt(p)} | {fmt(m)} |")
    return lines


def bd_psnr_msssim(anchor, test) -> tuple[float | None, float | None]:
    """BD-rates of test against anchor, points (bpp, PSNR, MS-SSIM): over PSNR and over MS-SSIM dB."""
    return (kodak.bd_rate([(b, p) for b, p, _ in anchor], [(b, p) for b, p, _ in test]),
            kodak.bd_rate([(b, ms_ssim_db(m)) for b, _, m in anchor], [(b, ms_ssim_db(m)) for b, _, m in test]))


def code_rows(weights: Path, cache: Path, only: set[int] | None) -> None:
    import torch

    from aigif_codecs.nvtc import codec, parse_rate

    torch.set_num_threads(1)
    register(weights, CANDIDATE)
    done = set()
    if cache.exists():
        done = {(r["image"], r["variant"], r["q"]) for r in map(json.loads, cache.read_text().splitlines())}
    paths = kodak.images("kodak")
    with cache.open("a") as fh:
        for n, path in enumerate(paths, 1):
            if only and n not in only:
                continue
            im = Image.open(path).convert("RGB")
            ref = np.asarray(im)
            for q in QS:
                for variant, model in (("pair", parse_rate(str(q))["model"]), ("one", CANDIDATE)):
                    if (path.name, variant, q) in done:
                        continue
                    data = codec.encode(im, model, q=q)
                    row = {"image": path.name, "variant": variant, "model": model, "q": q,
                           **quality_row(codec, im, ref, data)}
                    fh.write(json.dumps(row) + "\n")
                    fh.flush()
            print(path.name, "done", flush=True)


def report(cache: Path, webp_cache: Path) -> str:
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    complete = complete_images(rows, 2 * len(QS))
    curves = {}
    for variant in ("pair", "one"):
        pts = []
        for q in QS:
            rs = [r for r in rows if r["variant"] == variant and r["q"] == q and r["image"] in complete]
            pts.append((q, np.mean([r["bpp"] for r in rs]), np.mean([r["psnr"] for r in rs]),
                        np.mean([r["msssim"] for r in rs])))
        curves[variant] = pts
    anchor = webp_anchor(webp_cache, complete)

    pair = [(b, p, m) for _, b, p, m in curves["pair"]]
    one = [(b, p, m) for _, b, p, m in curves["one"]]
    lines = [f"Kodak images: {len(complete)} of 24 complete.", "",
             "| Q | pair: model | pair bpp | pair PSNR | one bpp | one PSNR | pair MS-SSIM | one MS-SSIM |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    from aigif_codecs.nvtc import parse_rate

    for (q, b0, p0, m0), (_, b1, p1, m1) in zip(curves["pair"], curves["one"]):
        lines.append(f"| {q} | {parse_rate(str(q))['model']} | {b0:.4f} | {p0:.3f} | {b1:.4f} | {p1:.3f} | {m0:.4f} | {m1:.4f} |")
    lines += [""] + bd_table((("one model vs the pair", pair, one), ("pair vs WebP", anchor, pair),
                              ("one model vs WebP", anchor, one)))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, help="the candidate single model (exported safetensors)")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--webp", type=Path, required=True, help="bench/kodak.py's Kodak cache (its WebP rows)")
    ap.add_argument("--only", type=lambda v: {int(x) for x in v.split(",")}, help="Kodak image numbers (1-24)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.report_only:
        code_rows(args.weights, args.cache, args.only)
    print(report(args.cache, args.webp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
