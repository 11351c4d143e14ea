"""The learning curve of tools/tune_nvtc.py, measured on Kodak, and what more steps would give.

Every snapshot of a tuning run (a copy of its checkpoint taken every few minutes while it
trained: RUN-STEP/ckpt.safetensors + state.json) is exported to temporary weights and
coded exactly as the codec codes (the bitstream version it writes) on a few Kodak images at the Q
points of its band.  Per snapshot: mean bpp, PSNR and the Lagrangian J = MSE + bits/px/3 /
lambda (the quantity training minimises, per colour sample, x in [0, 1]), averaged over
the Q points.  J(t) = a - b ln t is fitted to J against the CPU seconds of training (a
power law J_inf + a t^-c ran to its smallest exponent on these runs: over one decade of
steps, with the key refits' jumps in it, the curve is log-linear), and read as the fall
of J per doubling of CPU and J at 2x and 10x the CPU spent: what more training of this
recipe would reach.  The shipped weights of the run's initial model are the t = 0 point.
Rows are kept in OUT.json; --report-only rebuilds the tables from it.

Kodak is the test set: nothing here feeds back into training or into a choice of weights
(the exported weights are always the run's last step).

  nice -n 10 python bench/nvtc_tuning.py --snapshots /work/runs/nvtc-tune/snap \
      --run t1:1:40,60 --run t2:2:80,100 --images 03,07,14,21 --out bench/RESULTS-nvtc-tuning.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


def register(path: Path, number: int) -> None:
    """Make weights file `path` the codec's model `number` for this process only."""
    from aigif_codecs.nvtc import codec

    codec.WEIGHTS[number] = (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
    shipped = codec.weights_path
    codec.weights_path = lambda r, _s=shipped: path if r == number else _s(r)


def measure(model: int, qs: list[int], images: list[Image.Image]) -> dict:
    from aigif_codecs.nvtc import codec

    out = {}
    for q in qs:
        bpp = psnr = j = 0.0
        lmbda = codec.q_lambda(q)
        for im in images:
            data = codec.encode(im, model, q=q)
            rec = np.asarray(codec.decode(data, max_pixels=1 << 28), np.float64)
            mse = float(((np.asarray(im, np.float64) - rec) ** 2).mean()) / 255.0**2
            b = 8 * len(data) / (im.width * im.height)
            bpp += b
            psnr += 10 * math.log10(1 / mse)
            j += mse + b / 3 / lmbda
        n = len(images)
        out[q] = {"bpp": bpp / n, "psnr": psnr / n, "J": j / n}
    return out


def fit_log_linear(t: np.ndarray, j: np.ndarray) -> tuple[float, float]:
    """(a, b) of the least-squares J = a - b ln t."""
    A = np.stack([np.ones_like(t), -np.log(t)], 1)
    (a, b), *_ = np.linalg.lstsq(A, j, rcond=None)
    return float(a), float(b)


def table(name: str, init: str, qs: list[int], rows: list) -> list[str]:
    lines = [f"## {name} (from shipped model {init}, Q {', '.join(map(str, qs))})", "",
             "| step | CPU s | " + " | ".join(f"Q{q} bpp / PSNR" for q in qs) + " | J (x1e-3) |",
             "|---:|---:|" + "---:|" * len(qs) + "---:|"]
    for step, cpu, m in rows:
        cells = " | ".join(f"{m[str(q)]['bpp']:.3f} / {m[str(q)]['psnr']:.2f}" for q in qs)
        lines.append(f"| {step} | {cpu:.0f} | {cells} | {1e3 * np.mean([m[str(q)]['J'] for q in qs]):.4f} |")
    t = np.array([cpu for _, cpu, _ in rows[1:]])
    j = np.array([np.mean([m[str(q)]["J"] for q in qs]) for *_, m in rows[1:]])
    lines.append("")
    if len(t) >= 3:
        a, b = fit_log_linear(t, j)
        at = lambda s: a - b * math.log(s)  # noqa: E731
        j0 = np.mean([rows[0][2][str(q)]["J"] for q in qs])
        lines.append(f"Fit J = {1e3 * a:.4f}e-3 - {1e3 * b:.4f}e-3 ln t (t = CPU s): J falls "
                     f"{100 * b * math.log(2) / at(t[-1]):.1f} % per doubling of CPU. Shipped start {1e3 * j0:.4f}e-3; "
                     f"at the CPU spent ({t[-1]:.0f} s) {1e3 * at(t[-1]):.4f}e-3 (measured {1e3 * j[-1]:.4f}e-3); "
                     f"at 2x {1e3 * at(2 * t[-1]):.4f}e-3, at 10x {1e3 * at(10 * t[-1]):.4f}e-3.")
    else:
        lines.append("Too few snapshots for a fit.")
    return lines + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=Path, required=True)
    ap.add_argument("--run", action="append", required=True, help="NAME:INIT_MODEL:Q1,Q2")
    ap.add_argument("--images", default="03,07,14,21")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-nvtc-tuning.md")
    ap.add_argument("--report-only", action="store_true", help="tables from OUT.json, no coding")
    args = ap.parse_args(argv)
    import torch

    from codec_training import ensure_codecs_importable, load_ckpt

    ensure_codecs_importable()
    import tune_nvtc
    from aigif_codecs.nvtc.export import export_tuned

    torch.set_num_threads(1)
    images = [] if args.report_only else [Image.open(DATA / "kodak" / f"kodim{n}.png").convert("RGB") for n in args.images.split(",")]
    lines = ["# NVTC tuning: learning curve on Kodak", "",
             f"`bench/nvtc_tuning.py`, Kodak images {args.images}; J = MSE + bpp/3/lambda averaged over the Q points; "
             "CPU s = seconds of training CPU (one thread).", ""]
    store = args.out.with_suffix(".json")
    runs = json.loads(store.read_text()) if args.report_only else {}
    number = 200
    for spec in args.run:
        name, init, qs = spec.split(":")
        qs = [int(q) for q in qs.split(",")]
        if not args.report_only:
            rows = [(0, 0.0, measure(int(init), qs, images))]
            snaps = sorted((p for p in args.snapshots.glob(f"{name}-*") if (p / "state.json").exists()),
                           key=lambda p: int(p.name.rsplit("-", 1)[1]))
            with tempfile.TemporaryDirectory() as tmp:
                for snap in snaps:
                    model = tune_nvtc.load_shipped(int(init))
                    meta = load_ckpt(snap, model)
                    w = Path(tmp) / f"{snap.name}.safetensors"
                    export_tuned(*tune_nvtc.exported_parts(model), 512.0, number, w, train_info={})
                    register(w, number)
                    rows.append((meta["step"], meta["cpu_s"], measure(number, qs, images)))
                    number += 1
                    print(name, meta["step"], json.dumps(rows[-1][2]), flush=True)
            runs[name] = json.loads(json.dumps(rows))  # Q keys as strings, as in the store
        lines += table(name, init, qs, runs[name])
    if not args.report_only:
        store.write_text(json.dumps(runs))
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    os.replace(tmp, args.out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
