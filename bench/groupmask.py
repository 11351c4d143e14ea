"""Group-mask coding (codec 17) on Kodak-24: what the structure costs, and what a group costs to read.

For each Q: every image coded as groupmask:Q with the built-in split into 4 groups (no
user masks exist for Kodak) and as plain nvtc:Q (the same fine-tune at the same lambda).
Reported:
  - BD-rate (PSNR) of groupmask against nvtc over the Q points: the structure's cost;
  - PSNR in the 8-px band along group boundaries (pixels within 8 px of another group,
    by Chebyshev distance) against the interior (the rest), groupmask and plain nvtc;
  - for every group: bytes a decoder of that group alone reads (shared header + mask +
    its stream) as a fraction of the payload, against the group's area fraction.

  nice -n 10 python bench/groupmask.py --out /tmp/groupmask.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))
BAND = 8


def boundary_band(index: np.ndarray, width: int = BAND) -> np.ndarray:
    """Pixels with a pixel of another group within `width` (Chebyshev distance)."""
    h, w = index.shape
    band = np.zeros((h, w), bool)
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            ys, yd = slice(max(0, dy), h + min(0, dy)), slice(max(0, -dy), h + min(0, -dy))
            xs, xd = slice(max(0, dx), w + min(0, dx)), slice(max(0, -dx), w + min(0, -dx))
            band[yd, xd] |= index[ys, xs] != index[yd, xd]
    return band


def mse(a, b, sel):
    d = a[sel].astype(np.float64) - b[sel].astype(np.float64)
    return float((d**2).mean())


def main() -> int:
    import torch

    import aigif_codecs
    from aigif_codecs import groupmask
    from kodak import bd_rate

    ap = argparse.ArgumentParser()
    ap.add_argument("--qs", default="50,60,70,80")
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--nvtc-from", type=Path, help="bench/kodak.py's JSONL cache: take nvtc:Q bpp/PSNR from it "
                    "instead of coding again (the band PSNR of plain nvtc is then not measured)")
    args = ap.parse_args()
    cached = {}
    if args.nvtc_from:
        for line in args.nvtc_from.read_text().splitlines():
            row = json.loads(line)
            cached[(row["image"], row["spec"])] = row
    torch.set_num_threads(1)
    qs = [int(q) for q in args.qs.split(",")]
    t0 = time.process_time()
    res = {q: {"gm_bits": 0, "nv_bits": 0, "px": 0, "gm_psnr": 0.0, "nv_psnr": 0.0,
               "gm_band_mse": [], "gm_int_mse": [], "nv_band_mse": [], "nv_int_mse": [], "read_over_area": []} for q in qs}
    for i in range(1, args.images + 1):
        img = Image.open(DATA / "kodak" / f"kodim{i:02d}.png").convert("RGB")
        ref = np.asarray(img)
        for q in qs:
            r = res[q]
            _, gm = aigif_codecs.encode(img, f"groupmask:{q}/{args.groups}")
            gm_img = np.asarray(aigif_codecs.decode(17, gm, max_pixels=1 << 26))
            hit = cached.get((f"kodim{i:02d}.png", f"nvtc:{q}"))
            if hit is None:
                _, nv = aigif_codecs.encode(img, f"nvtc:{q}")
                nv_img = np.asarray(aigif_codecs.decode(16, nv, max_pixels=1 << 26))
            p = groupmask.parse(gm, max_pixels=1 << 26)
            band = boundary_band(p.index)
            r["gm_bits"] += 8 * len(gm)
            r["nv_bits"] += 8 * (len(nv) if hit is None else hit["bytes"])
            r["px"] += ref.shape[0] * ref.shape[1]
            full = np.ones(band.shape, bool)
            r["gm_psnr"] += 10 * math.log10(255**2 / mse(gm_img, ref, full))
            r["nv_psnr"] += 10 * math.log10(255**2 / mse(nv_img, ref, full)) if hit is None else hit["psnr"]
            for key, im in (("gm", gm_img),) + ((("nv", nv_img),) if hit is None else ()):
                r[f"{key}_band_mse"].append(mse(im, ref, band))
                r[f"{key}_int_mse"].append(mse(im, ref, ~band))
            counts = np.bincount(p.index.reshape(-1), minlength=len(p.entries))
            for g, e in enumerate(p.entries):
                read = p.header_bytes + e[5]  # what groupmask.decode(groups=[label]) reads (tested)
                r["read_over_area"].append((read / len(gm), counts[g] / p.index.size))
        print(i, flush=True)
    rows = []
    for q in qs:
        r = res[q]
        n = args.images
        ro = np.array(r["read_over_area"])
        excess = ro[:, 0] - ro[:, 1]
        db = lambda m: round(10 * math.log10(255**2 / float(np.mean(m))), 3) if m else None  # noqa: E731
        rows.append({"q": q, "groupmask_bpp": round(r["gm_bits"] / r["px"], 4), "nvtc_bpp": round(r["nv_bits"] / r["px"], 4),
                     "groupmask_psnr": round(r["gm_psnr"] / n, 3), "nvtc_psnr": round(r["nv_psnr"] / n, 3),
                     "groupmask_band_psnr": db(r["gm_band_mse"]), "groupmask_interior_psnr": db(r["gm_int_mse"]),
                     "nvtc_band_psnr": db(r["nv_band_mse"]), "nvtc_interior_psnr": db(r["nv_int_mse"]),
                     "groups": len(ro), "read_minus_area_max": round(float(excess.max()), 4),
                     "read_minus_area_mean": round(float(excess.mean()), 4),
                     "groups_over_area_plus_5pct": int((excess > 0.05).sum())})
    bd = bd_rate([(r["nvtc_bpp"], r["nvtc_psnr"]) for r in rows], [(r["groupmask_bpp"], r["groupmask_psnr"]) for r in rows])
    out = {"rows": rows, "bd_rate_groupmask_vs_nvtc_psnr": None if bd is None else round(bd, 2),
           "cpu_s": round(time.process_time() - t0, 1), "images": args.images, "builtin_groups": args.groups}
    print(json.dumps(out, indent=1))
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
