"""Train the CPU-scaled Omni-ICM feature codec (codec 18) and export its weights.

Self-supervised instance discrimination (SimCLR's InfoNCE over two augmented views of a
crop) co-optimised with the rate of the quantised features:

    loss = InfoNCE(head(Q(y)), two views) + lambda * bits(y + noise) / view pixels

y = filter(backbone(view)); Q rounds y / step with a straight-through gradient (the task
path sees the integers the codec will send), the rate uses additive uniform noise under
the model's per-channel Laplace; the step is drawn per batch from the codec's Q range, so
one model serves every omni:Q.  The schedule (warm-up, cosine decay) follows the step
count or the CPU-time budget, whichever runs out first.

Data: /work/shared/data/train-images downscaled as the codec does (longest side 256),
except the held-out split (held_out(): sha256 of the file starting 0 or 1, about 1/8),
which bench/omni_icm.py measures on.  Kodak is never read.  Checkpoints (safetensors:
model + Adam moments; JSON: step, wall and CPU seconds) go to --runs and resume
automatically.

Usage (what produced codecs/weights/omni-1.safetensors):
  nohup nice -n 19 python tools/train_omni.py train --steps 6000 --cpu-budget-min 40 > /tmp/omni-train.log &
  nice -n 19 python tools/train_omni.py export        # then put its sha256 in codecs/omni/zoo.py
  nice -n 19 python tools/train_omni.py grid-tables   # omni-1-grids.safetensors: its sha256 in zoo.py
  nice -n 19 python tools/train_omni.py conformance   # tests/codecs/data/omni-v1-*, spec/reference/omni-v2-*
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from codec_training import ensure_codecs_importable, load_ckpt, save_ckpt  # noqa: E402

ensure_codecs_importable()
from aigif_codecs.omni import STEP_64  # noqa: E402
from aigif_codecs.omni.model import OmniConfig, OmniICM, info_nce, param_count  # noqa: E402
from aigif_codecs.omni.preprocess import working_size  # noqa: E402

DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data")) / "train-images"
RUNS = Path(os.environ.get("OMNI_RUNS", "/work/runs/omni"))


def held_out(sha256: str) -> bool:
    """The split bench/omni_icm.py measures on: never trained on."""
    return sha256[0] in "01"


def image_files(*, held: bool) -> list[Path]:
    with open(DATA / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out = [DATA / r["file"] for r in rows if held_out(r["sha256"]) == held]
    if any("kodak" in str(p).lower() for p in out):
        raise SystemExit("refusing to touch Kodak")
    return sorted(out)


def load_working(path: Path) -> np.ndarray:
    """uint8 HxWx3 at the codec's working size (what the network sees at encode time)."""
    im = Image.open(path).convert("RGB")
    size = working_size(*im.size)
    if size != im.size:
        im = im.resize(size, Image.LANCZOS)
    return np.asarray(im)


# -- augmentations (SimCLR's family, CPU-cheap) ------------------------------------------
def crop_size(w: int, h: int, rng: random.Random, min_area: float) -> tuple[int, int]:
    """(cw, ch) of a random crop covering min_area..100 % of a w x h image, aspect
    3/4..4/3 (ten tries, then the shorter side's square); the bench's views use it too."""
    for _ in range(10):
        area = rng.uniform(min_area, 1.0) * w * h
        ar = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ar))), int(round(math.sqrt(area / ar)))
        if cw <= w and ch <= h:
            return cw, ch
    return min(w, h), min(w, h)


def random_view(a: np.ndarray, out: int, rng: random.Random) -> torch.Tensor:
    """Random resized crop (area 20-100 %, aspect 3/4..4/3), flip, colour jitter, grey."""
    h, w = a.shape[:2]
    cw, ch = crop_size(w, h, rng, 0.2)
    y, x = rng.randint(0, h - ch), rng.randint(0, w - cw)
    t = torch.from_numpy(np.ascontiguousarray(a[y:y + ch, x:x + cw])).permute(2, 0, 1).float().div_(255)[None]
    t = F.interpolate(t, size=(out, out), mode="bilinear", antialias=True, align_corners=False)[0]
    return jitter(t, rng)


def jitter(t: torch.Tensor, rng: random.Random) -> torch.Tensor:
    if rng.random() < 0.5:
        t = t.flip(-1)
    if rng.random() < 0.8:
        t = t * rng.uniform(0.6, 1.4)  # brightness
        m = t.mean()
        t = (t - m) * rng.uniform(0.6, 1.4) + m  # contrast
        g = t.mean(0, keepdim=True)
        t = (t - g) * rng.uniform(0.6, 1.4) + g  # saturation
    if rng.random() < 0.2:
        t = t.mean(0, keepdim=True).expand(3, -1, -1)
    return t.clamp(0, 1)


def pairs(imgs, batch: int, view: int, rng: random.Random):
    while True:
        v1, v2 = [], []
        for _ in range(batch):
            a = imgs[rng.randrange(len(imgs))]
            v1.append(random_view(a, view, rng))
            v2.append(random_view(a, view, rng))
        yield torch.stack(v1), torch.stack(v2)


def quantise_ste(y, step: float):
    return y + (torch.round(y / step) * step - y).detach()


def train(args, run: Path) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = OmniICM(OmniConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    meta = {"step": 0, "wall_s": 0.0, "cpu_s": 0.0, "steps": args.steps, "lmbda": args.lmbda,
            "batch": args.batch, "view": args.view, "config": model.cfg.to_dict(), "log": []}
    if (run / "state.json").exists():
        meta = load_ckpt(run, model, opt)
        print(f"resumed {run} at step {meta['step']}", flush=True)
    print(f"params: {param_count(model)}", flush=True)
    imgs = [load_working(p) for p in image_files(held=False)]
    print(f"{len(imgs)} training images (held-out split excluded)", flush=True)
    rng = random.Random(args.seed * 1000003 + meta["step"])  # a resumed run draws fresh batches
    gen = pairs(imgs, args.batch, args.view, rng)
    qs = sorted(STEP_64)
    budget = args.cpu_budget_min * 60
    t_wall, t_cpu = time.time(), time.process_time()
    acc = {"loss": 0.0, "nce": 0.0, "bpp": 0.0, "n": 0}
    while meta["step"] < args.steps and meta["cpu_s"] < budget:
        frac = max(meta["step"] / args.steps, meta["cpu_s"] / budget)
        warm = min(1.0, (meta["step"] + 1) / args.warmup)
        lr = args.lr * warm * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        for g in opt.param_groups:
            g["lr"] = lr
        v1, v2 = next(gen)
        step = STEP_64[qs[rng.randrange(len(qs))]] / 64
        x = torch.cat([v1, v2])
        y = model.analysis(x)
        bits = model.rate_bits(y + (torch.rand_like(y) - 0.5) * step, step)
        bpp = bits.sum() / (x.shape[0] * x.shape[2] * x.shape[3])
        e = model.embed(quantise_ste(y, step))
        z = model.projector(e)
        n = v1.shape[0]
        nce = info_nce(z[:n], z[n:])
        # the rate term ramps in over the warm-up: features must exist before they are squeezed
        loss = nce + args.lmbda * warm * bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        meta["step"] += 1
        acc["loss"] += float(loss.detach())
        acc["nce"] += float(nce.detach())
        acc["bpp"] += float(bpp.detach())
        acc["n"] += 1
        now_w, now_c = time.time(), time.process_time()
        meta["wall_s"] += now_w - t_wall
        meta["cpu_s"] += now_c - t_cpu
        t_wall, t_cpu = now_w, now_c
        if meta["step"] % args.log_every == 0:
            k = acc["n"]
            rec = {"step": meta["step"], "wall_s": round(meta["wall_s"], 1), "cpu_s": round(meta["cpu_s"], 1),
                   "lr": lr, "loss": acc["loss"] / k, "nce": acc["nce"] / k, "bpp_view": acc["bpp"] / k,
                   "gates_open": int((model.filter.gates() > 0.05).sum())}
            meta["log"].append(rec)
            print(json.dumps(rec), flush=True)
            acc = {"loss": 0.0, "nce": 0.0, "bpp": 0.0, "n": 0}
        if meta["step"] % args.ckpt_every == 0:
            save_ckpt(run, model, opt, meta)
    save_ckpt(run, model, opt, meta)
    print(f"done {run}: {meta['step']} steps, {meta['wall_s']:.0f} s wall, {meta['cpu_s']:.0f} s CPU", flush=True)


def export(args, run: Path) -> None:
    from aigif_codecs.omni.export import export_weights

    torch.set_num_threads(args.threads)
    model = OmniICM(OmniConfig())
    meta = load_ckpt(run, model)
    model.eval()
    imgs = [load_working(p) for p in image_files(held=False)]
    out = REPO / "codecs" / "weights" / "omni-1.safetensors"
    digest = export_weights(model, imgs, out, train_info={
        "steps": meta["step"], "wall_s": round(meta["wall_s"]), "cpu_s": round(meta["cpu_s"]),
        "lmbda": meta["lmbda"], "batch": meta["batch"], "view": meta["view"], "images": len(imgs)})
    print(f"{out} sha256 {digest}")


def grid_tables() -> None:
    """The coding tables of bitstream version 2, measured on the shipped network (as the
    decoder side loads it) over the same training images as tables.freq."""
    from aigif_codecs.omni import codec
    from aigif_codecs.omni.export import export_grid_tables
    from aigif_codecs.omni.zoo import WEIGHTS_SHA256, grids_path

    torch.set_num_threads(1)
    imgs = [load_working(p) for p in image_files(held=False)]
    with torch.no_grad():
        digest = export_grid_tables(codec.load().model, WEIGHTS_SHA256, imgs, grids_path())
    print(f"{grids_path()} sha256 {digest} ({len(imgs)} images)")


def conformance() -> None:
    """The payload tests/codecs/test_omni.py decodes on every machine, and its integers' digest."""
    import hashlib

    sys.path.insert(0, str(REPO / "tests"))
    from samples import smooth_image

    from aigif_codecs import encode, features

    # version 2's payload is also spec vector v49 (spec/make_vectors.py reads it from spec/reference)
    for spec, base in (("omni:5", REPO / "tests" / "codecs" / "data" / "omni-v1-q5-200x136"),
                       ("omni:8/2", REPO / "spec" / "reference" / "omni-v2-q8-g2-200x136")):
        if base.with_suffix(".bin").exists():  # frozen: a payload written once is never rewritten
            print(f"{base}.bin exists: kept")
            continue
        cid, data = encode(smooth_image(200, 136, seed=11), spec)
        f = features(cid, data, max_pixels=1 << 30)
        base.with_suffix(".bin").write_bytes(data)
        base.with_suffix(".json").write_text(json.dumps({
            "made_by": f"tools/train_omni.py conformance: samples.smooth_image(200, 136, seed=11) coded as {spec}",
            "q": f.q, "grid": f.grid, "shape": list(f.ints.shape),
            "ints_sha256": hashlib.sha256(f.ints.tobytes()).hexdigest()}, indent=1) + "\n")
        print(f"{base}.bin: {len(data)} bytes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["train", "export", "grid-tables", "conformance"])
    ap.add_argument("--name", default="omni")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--lmbda", type=float, default=2.0, help="weight of bits per view pixel")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--batch", type=int, default=48, help="positive pairs per step")
    ap.add_argument("--view", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--cpu-budget-min", type=float, default=40.0)
    args = ap.parse_args(argv)
    run = RUNS / args.name
    if args.phase == "train":
        train(args, run)
    elif args.phase == "export":
        export(args, run)
    elif args.phase == "grid-tables":
        grid_tables()
    else:
        conformance()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
