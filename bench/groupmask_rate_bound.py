"""What the group-mask bound "bytes read for one group <= area share + 5 points" costs by
itself, with no groups at all: plain NVTC with per-group ECVQ weights scaled until each
group's share of its bits is at most area + 4.8 points, against plain NVTC, on the built-in
split of Kodak 1..N (BENCHMARKS.md, "The built-in split on NVTC's 64-px blocks").

A group's share of the bits is that of the ideal code lengths spread over their cells
(bench/groupmask.py's bits_per_pixel).  An over group's weights are scaled by
(cap / share)^2.5 until none is over (12 encodes at most).

  OMP_NUM_THREADS=1 python bench/groupmask_rate_bound.py --only 1,3,5,7,9,11 --jsonl F &
  OMP_NUM_THREADS=1 python bench/groupmask_rate_bound.py --only 2,4,6,8,10,12 --jsonl F
  python bench/groupmask_rate_bound.py --summarise --jsonl F
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import groupmask as gm_bench  # noqa: E402  (bench/groupmask.py)

QS = (50, 60, 70)
CAP = 0.048  # under the bound's 0.05, as codecs/groupmask.py's rate cap aims
ROUNDS = 12


def measure_image(i: int) -> list[dict]:
    import aigif_codecs
    from aigif_codecs.nvtc import codec as nvtc_codec
    from aigif_codecs.nvtc import parse_rate
    from aigif_codecs.segment import builtin_groups

    img = Image.open(gm_bench.DATA / "kodak" / f"kodim{i:02d}.png").convert("RGB")
    ref = np.asarray(img)
    labels = builtin_groups(img, 4)
    index = np.searchsorted(np.unique(labels), labels).astype(np.uint8)
    G = int(index.max()) + 1
    area = np.bincount(index.reshape(-1), minlength=G) / index.size
    full = np.ones(index.shape, bool)
    out = []
    for q in QS:
        kw = parse_rate(str(q))
        scale = np.ones(G)
        for it in range(ROUNDS):
            trace: list = []
            data = nvtc_codec.encode(img, **kw, trace=trace, weight=scale[index])
            bits = gm_bench.bits_per_pixel(trace, q, img.size).reshape(-1)
            share = np.bincount(index.reshape(-1), weights=bits, minlength=G)
            share /= share.sum()
            if it == 0:
                share0, bytes0 = share.copy(), len(data)
                psnr0 = gm_bench.db(gm_bench.mse(np.asarray(aigif_codecs.decode(16, data, max_pixels=1 << 26)), ref, full))
            over = share > area + CAP
            if not over.any():
                break
            scale[over] *= ((area + CAP)[over] / share[over]) ** 2.5
        psnr = gm_bench.db(gm_bench.mse(np.asarray(aigif_codecs.decode(16, data, max_pixels=1 << 26)), ref, full))
        out.append({"image": i, "q": q, "encodes": it + 1, "bytes0": bytes0, "bytes": len(data), "px": int(index.size),
                    "psnr0": psnr0, "psnr": psnr, "area": area.tolist(), "share0": share0.tolist(),
                    "share": share.tolist(), "scale": scale.tolist()})
    return out


def summarise(recs: list[dict]) -> dict:
    from kodak import bd_rate

    free, bound, rows = [], [], []
    for q in QS:
        rs = [r for r in recs if r["q"] == q]
        px = sum(r["px"] for r in rs)
        free.append((8 * sum(r["bytes0"] for r in rs) / px, float(np.mean([r["psnr0"] for r in rs]))))
        bound.append((8 * sum(r["bytes"] for r in rs) / px, float(np.mean([r["psnr"] for r in rs]))))
        over = [int((np.array(r[k]) - np.array(r["area"]) > 0.05).sum()) for r in rs for k in ("share0", "share")]
        rows.append({"q": q, "images": len(rs), "free": free[-1], "bound": bound[-1],
                     "groups_over_before": sum(over[0::2]), "groups_over_after": sum(over[1::2])})
    return {"rows": rows, "bd_rate_bound_vs_free_psnr": round(bd_rate(free, bound), 2),
            "images": sorted({r["image"] for r in recs})}


def main() -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9,10,11,12", help="Kodak images to measure")
    ap.add_argument("--jsonl", type=Path, required=True, help="per-(image, Q) records: appended, then summarised")
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    if not args.summarise:
        torch.set_num_threads(1)
        for i in (int(v) for v in args.only.split(",")):
            got = measure_image(i)
            with args.jsonl.open("a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in got))
            print(i, [r["encodes"] for r in got], flush=True)
        return 0
    print(json.dumps(summarise([json.loads(x) for x in args.jsonl.read_text().splitlines()]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
