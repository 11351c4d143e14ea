"""NVTC entropy model on Kodak-24: coded bits against the ideal code lengths.

For each shipped model (at its own lambda) and every Kodak image, the codeword indices
the encoder chose are coded three ways and compared with two ideals:

  v1 coded      payload bytes of bitstream version 1 (static tables only, adapt=False)
  v2 coded      payload bytes of version 2 (static tables + per-image adaptive counts)
  static ideal  sum of -log2 p under the static integer tables
  v2 ideal      sum of -log2 p under version 2's adapted integer model
  own entropy   the image's own per-position empirical entropy of its indices,
                sum over layers and block positions of n * H(index | position) - the
                two-pass ideal that ignores the cost of sending the table

Same indices in every column (the encoder's ECVQ choice does not depend on adaptation).

  nice -n 10 python bench/nvtc_entropy.py --out /tmp/nvtc-entropy.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


def own_entropy(sym: np.ndarray, n_pos: int) -> float:
    pos = np.tile(np.arange(n_pos), len(sym) // n_pos)
    key = pos.astype(np.int64) * (int(sym.max()) + 1) + sym
    _, cnt = np.unique(key, return_counts=True)
    return float(-(cnt * np.log2(cnt)).sum() + n_pos * (len(sym) // n_pos) * np.log2(len(sym) // n_pos))


def main() -> int:
    import torch

    import aigif_codecs  # noqa: F401  (registers the package path)
    from aigif_codecs.nvtc import codec, entropy

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="1,2,3")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for model in (int(m) for m in args.models.split(",")):
        tot = dict.fromkeys(("v1_coded", "v2_coded", "static_ideal", "v2_ideal", "own_entropy", "s0_static", "s0_v2", "s0_own"), 0.0)
        t0 = time.process_time()
        for i in range(1, args.images + 1):
            img = Image.open(DATA / "kodak" / f"kodim{i:02d}.png").convert("RGB")
            trace: list = []
            v2 = codec.encode(img, model, trace=trace)
            v1 = codec.encode(img, model, adapt=False)
            tot["v1_coded"] += 8 * len(v1)
            tot["v2_coded"] += 8 * len(v2)
            for (s, l), sym, srows, mix, f in trace:
                st = entropy.code_length(f, srows, 16, 0, 0, sym)
                ad = entropy.code_length(f, srows, 16, *entropy.unpack_mix(mix), sym)
                own = own_entropy(sym, 16)
                tot["static_ideal"] += st
                tot["v2_ideal"] += ad
                tot["own_entropy"] += own
                if s == 0:
                    tot["s0_static"] += st
                    tot["s0_v2"] += ad
                    tot["s0_own"] += own
        row = {"model": model, "images": args.images, "cpu_s": round(time.process_time() - t0, 1),
               **{k: round(v) for k, v in tot.items()},
               "v2_vs_v1": round(tot["v2_coded"] / tot["v1_coded"] - 1, 4),
               "v1_over_own": round(tot["v1_coded"] / tot["own_entropy"] - 1, 4),
               "v2_over_own": round(tot["v2_coded"] / tot["own_entropy"] - 1, 4),
               "v2_coded_over_v2_ideal": round(tot["v2_coded"] / tot["v2_ideal"] - 1, 4),
               "stage0_static_over_own": round(tot["s0_static"] / tot["s0_own"] - 1, 4),
               "stage0_v2_over_own": round(tot["s0_v2"] / tot["s0_own"] - 1, 4)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
