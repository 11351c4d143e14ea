"""Train the CPU-scaled NVTC codec and export its rate points.

The paper's progressive schedule (COCO, 2M steps), compressed to a CPU budget:

  base run (shared by all rate points), plain VQ - no rate term in the argmin:
    first 20 % of steps: only the coarsest stage is quantised
    up to 40 %:         the middle stage joins
    then:               all stages
    dead codewords are re-activated every --reactivate steps
  per rate point, starting from the base: the conditional priors switched on; after
    15 % of the run ECVQ (argmin d + rate/lambda) too; lambda fixed, lr decayed for
    the last 20 %.

Data: /work/shared/data/train-images (never Kodak).  JPEG sets are downscaled x2
before cropping to hide their block artefacts.  Checkpoints (safetensors: model +
Adam moments, JSON: step and wall-clock) go to --runs and are resumed automatically.

Usage (the commands that produced codecs/weights/):
  nice -n 10 python tools/train_nvtc.py base --steps 3000
  nice -n 10 python tools/train_nvtc.py finetune --lmbda 128 --name q1 --steps 2000 --budget-min 50 --lr 2e-4
  nice -n 10 python tools/train_nvtc.py export --name q1 --rate 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from codec_training import ensure_codecs_importable, load_ckpt, save_ckpt  # noqa: E402

ensure_codecs_importable()
from aigif_codecs.nvtc.model import NVTC, NVTCConfig, param_count  # noqa: E402

DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data")) / "train-images"
RUNS = Path(os.environ.get("NVTC_RUNS", "/work/runs/nvtc"))
JPEG_SETS = {"bsds500", "sun_hays80"}


def photo_files() -> list[Path]:
    """Every training photo (train-images, never Kodak), in a fixed order."""
    out = []
    for sub in sorted(p for p in DATA.iterdir() if p.is_dir()):
        if sub.name == "kodak":
            raise SystemExit("refusing to train on Kodak")
        out += [f for f in sorted(sub.iterdir()) if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return out


def load_photo(f: Path) -> Image.Image:
    """A training photo as NVTC sees it: RGB, the JPEG sets downscaled x2 (their blocking halved)."""
    im = Image.open(f).convert("RGB")
    if f.parent.name in JPEG_SETS:
        im = im.resize((im.width // 2, im.height // 2), Image.LANCZOS)
    return im


def load_images(crop: int) -> list[np.ndarray]:
    return [np.asarray(im) for im in map(load_photo, photo_files()) if min(im.size) >= crop]


def batches(imgs, batch: int, crop: int, rng: random.Random):
    while True:
        out = np.empty((batch, crop, crop, 3), np.uint8)
        for i in range(batch):
            a = imgs[rng.randrange(len(imgs))]
            y = rng.randrange(a.shape[0] - crop + 1)
            x = rng.randrange(a.shape[1] - crop + 1)
            p = a[y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            out[i] = p
        yield torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def psnr(mse: float) -> float:
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def train(args, run: Path, *, phase: str, init: Path | None) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    cfg = NVTCConfig()
    model = NVTC(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    meta = {"step": 0, "elapsed_s": 0.0, "phase": phase, "lmbda": args.lmbda, "steps": args.steps,
            "config": cfg.to_dict(), "log": []}
    if (run / "state.json").exists():
        meta = load_ckpt(run, model, opt)
        print(f"resumed {run} at step {meta['step']}", flush=True)
    elif init is not None:
        load_ckpt(init, model)
        print(f"initialised from {init}", flush=True)
    print(f"params: {param_count(model)}", flush=True)
    imgs = load_images(args.crop)
    print(f"{len(imgs)} training images", flush=True)
    gen = batches(imgs, args.batch, args.crop, rng)
    for _ in range(meta["step"]):  # keep the data stream aligned after a resume (cheap)
        rng.random()
    t_last = time.time()
    acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "n": 0}
    budget_s = args.budget_min * 60 if args.budget_min else float("inf")
    while meta["step"] < args.steps and meta["elapsed_s"] < budget_s:
        t = meta["step"]
        # the schedule follows steps or the wall-clock budget, whichever runs out first
        frac = max(t / args.steps, meta["elapsed_s"] / budget_s)
        if phase == "base":
            # stage s (0 = finest) joins at this fraction of the run: coarsest at 0
            joins = {cfg.n_stage - 1: 0.0, cfg.n_stage - 2: 0.2}
            active = tuple(frac >= joins.get(s, 0.4) for s in range(cfg.n_stage))
            rate_constrain = conditional = False
            if t and t % args.reactivate == 0:
                model.reactivate(active)
        else:
            active = (True,) * cfg.n_stage
            conditional = True
            # the new conditional priors first learn the index statistics; biasing the
            # argmin with their untrained rates would scramble the codeword choice
            rate_constrain = frac >= 0.15
        lr = args.lr * (0.1 if frac >= 0.8 else 1.0)
        for g in opt.param_groups:
            g["lr"] = lr
        x = next(gen)
        out = model(x, args.lmbda, active=active, rate_constrain=rate_constrain, conditional=conditional)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        meta["step"] += 1
        acc["loss"] += float(out["loss"].detach())
        acc["bpp"] += 3 * float(out["rate_bpd"].detach())
        acc["mse"] += float(out["mse"].detach())
        acc["n"] += 1
        now = time.time()
        meta["elapsed_s"] += now - t_last
        t_last = now
        if meta["step"] % args.log_every == 0 or meta["step"] == args.steps or meta["elapsed_s"] >= budget_s:
            n = acc["n"]
            rec = {"step": meta["step"], "elapsed_s": round(meta["elapsed_s"], 1), "loss": acc["loss"] / n,
                   "bpp": acc["bpp"] / n, "psnr": psnr(acc["mse"] / n), "active": list(active)}
            meta["log"].append(rec)
            print(json.dumps(rec), flush=True)
            acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "n": 0}
        if meta["step"] % args.ckpt_every == 0 or meta["step"] == args.steps:
            save_ckpt(run, model, opt, meta)
    save_ckpt(run, model, opt, meta)
    print(f"done {run}: {meta['step']} steps, {meta['elapsed_s']:.0f} s wall-clock", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["base", "finetune", "export"])
    ap.add_argument("--name", default="base")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lmbda", type=float, default=512.0)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reactivate", type=int, default=250)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--budget-min", type=float, default=0.0,
                    help="stop after this many minutes of wall-clock (0: no limit); lr decays at 80 %%")
    ap.add_argument("--rate", type=int, help="export: rate point number written to the weights")
    args = ap.parse_args(argv)
    if args.phase == "base":
        train(args, RUNS / "base", phase="base", init=None)
    elif args.phase == "finetune":
        train(args, RUNS / args.name, phase="finetune", init=RUNS / "base")
    else:
        from aigif_codecs.nvtc.export import export_weights

        torch.set_num_threads(args.threads)
        cfg = NVTCConfig()
        model = NVTC(cfg)
        meta = load_ckpt(RUNS / args.name, model)
        out = REPO / "codecs" / "weights" / f"nvtc-{args.rate}.safetensors"
        digest = export_weights(model, meta["lmbda"], args.rate, out,
                                train_info={"steps": meta["step"], "elapsed_s": round(meta["elapsed_s"])})
        print(f"{out} sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
