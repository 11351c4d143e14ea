"""Tune shipped NVTC weights further, on this hardware, into a new rate point of the zoo.

The weights in codecs/weights/ no longer hold the prior networks (export replaces them by
integer tables), and the runs that made them are gone.  Training does not need the
networks back: the exported tables *are* the prior, so this script trains a logit row per
table row (a block position for a stage's first coded layer, a parameter level for the
others; the integer key -> level map stays as exported) and exports those rows as the new
integer tables.  What it trains, per step:

  * ECVQ on from the first step: the argmin over codewords of distortion + bits / lambda,
    bits from the current table rows (the encoder's exact rule);
  * lambda drawn per batch, log-uniform in [--lmin, --lmax]: a model for a band of Q,
    not one point (spec/codecs.md §4.6, `nvtc:Q`);
  * loss = distortion + rate / lambda: the rate-distortion Lagrangian (bits + lambda * MSE)
    divided by lambda, so that the distortion gradients of every lambda of the band have
    one size;
  * crops of --crop (128) for most steps, --crop-final (256) for the last --final-frac;
    flips and 90-degree rotations; cosine learning-rate decay after a warm-up;
    an exponential moving average of the weights, which is what is exported;
  * an optional last phase (--freeze-frac) that freezes analysis, codebooks and tables and
    tunes only the synthesis on the now fixed hard indices (the second phase of
    soft-then-hard training).

Checkpoints (safetensors + JSON, atomic) go to --runs/NAME every --ckpt-every steps and an
interrupted run resumes from the last one; state.json records the steps and the wall-clock
and CPU seconds spent.  Never Kodak: the data is shared/data/train-images.

Usage (what made the rate points shipped as models 4-6: BENCHMARKS.md, NVTC tuning):
  nice -n 5 python tools/tune_nvtc.py train --init 2 --name t2 --lmin 181 --lmax 724 --steps 6000
  python tools/tune_nvtc.py export --name t2 --rate 5
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from codec_training import ensure_codecs_importable, load_ckpt, save_ckpt  # noqa: E402

ensure_codecs_importable()
from aigif_codecs.learned_weights import build_model, read_checked  # noqa: E402
from aigif_codecs.nvtc.model import LN2, NVTC, NVTCConfig  # noqa: E402
from aigif_codecs.nvtc.zoo import WEIGHTS, weights_path  # noqa: E402
from train_nvtc import RUNS, load_images, psnr  # noqa: E402

TRAINING_ONLY = ("logits", "key_embed", "param_table", "prior_mlp")


class TablePriors(nn.Module):
    """One trainable logit row per row of a layer's exported frequency table."""

    def __init__(self, tensors: dict, cfg: NVTCConfig):
        super().__init__()
        self.rows = nn.ParameterDict()
        for s, l in cfg.coding_order():
            f = tensors[f"tables.{s}.{l}.freq"].double()
            self.rows[f"{s}_{l}"] = nn.Parameter(torch.log(f / f.sum(-1, keepdim=True)).float())
            kl = tensors.get(f"tables.{s}.{l}.key_level")
            self.register_buffer(f"key_level_{s}_{l}", (kl if kl is not None else torch.zeros(0)).long())

    def bits(self, s: int, l: int) -> torch.Tensor:
        return -F.log_softmax(self.rows[f"{s}_{l}"], dim=-1) / LN2  # (rows, K)

    def key_level(self, s: int, l: int) -> torch.Tensor:
        return getattr(self, f"key_level_{s}_{l}")


class Tunable(nn.Module):
    """The transforms, their table priors and the EMA copy that is exported."""

    def __init__(self, net: NVTC, priors: TablePriors):
        super().__init__()
        self.net, self.priors = net, priors
        self.ema = copy.deepcopy(nn.ModuleDict({"net": net, "priors": priors}))
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        live = dict(nn.ModuleDict({"net": self.net, "priors": self.priors}).named_parameters())
        for n, p in self.ema.named_parameters():
            p.mul_(decay).add_(live[n].detach(), alpha=1 - decay)


def load_shipped(rate: int) -> Tunable:
    path = weights_path(rate)
    tensors, meta, _ = read_checked(path, WEIGHTS[rate][1], f"NVTC rate point {rate}")
    net, cfg = build_model(NVTC, NVTCConfig, tensors, meta,
                           lambda k: any(p in TRAINING_ONLY for p in k.split(".")), path.name)
    net.train()
    return Tunable(net, TablePriors(tensors, cfg))


def rd_forward(net: NVTC, priors: TablePriors, x: torch.Tensor, lmbda: float, record: dict | None = None) -> dict:
    """The coder's own loop (codec._run) with gradients: ECVQ under the table rows, straight-
    through codewords; -> distortion terms and the rate (bits per dimension) of the indices.
    record, if given, receives (context keys, indices) of every conditional layer."""
    B, _, H, W = x.shape
    numel = x.numel()
    vectors = net.analysis(x)
    idx = {}
    acc = {"rate": 0.0, "vq_dist": 0.0}

    def layer(s, l, base, hw):
        vq = net.vq[s][l]
        r = net._to_vectors(net.proj_in[s][l](vectors[s][l] - base))
        table = priors.bits(s, l)
        prev = net.previous(s, l)
        if prev is None:
            bits = table.unsqueeze(0).expand(r.shape[0], -1, -1)  # row = block position
        else:
            keys = net.context_keys(s, prev, idx[prev], B, hw)
            bits = table[priors.key_level(s, l)[keys]]
        index = vq.quantize(r.detach(), bits.detach(), lmbda)
        idx[(s, l)] = index
        if record is not None and prev is not None:
            record.setdefault((s, l), []).append((keys.reshape(-1), index.reshape(-1)))
        r_hat = vq.lookup(index)
        acc["vq_dist"] = acc["vq_dist"] + ((r - r_hat) ** 2).sum() / numel
        acc["rate"] = acc["rate"] + bits.gather(-1, index.unsqueeze(-1)).sum() / numel
        return r + (r_hat - r).detach()  # straight-through codewords

    x_hat = net.coarse_to_fine(H, W, layer)
    return {"x_hat": x_hat, "mse": ((x - x_hat) ** 2).mean(), "vq_dist": acc["vq_dist"], "rate_bpd": acc["rate"]}


def augmented_batches(imgs, batch: int, rng: random.Random, crop_of_step):
    """Random crops, flipped and rotated by multiples of 90 degrees."""
    while True:
        crop = crop_of_step()
        out = np.empty((batch, crop, crop, 3), np.uint8)
        for i in range(batch):
            a = imgs[rng.randrange(len(imgs))]
            while min(a.shape[:2]) < crop:
                a = imgs[rng.randrange(len(imgs))]
            y = rng.randrange(a.shape[0] - crop + 1)
            x = rng.randrange(a.shape[1] - crop + 1)
            p = a[y:y + crop, x:x + crop]
            if rng.random() < 0.5:
                p = p[:, ::-1]
            out[i] = np.rot90(p, rng.randrange(4))
        yield torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def lr_at(frac: float, base: float, warmup: float = 0.03) -> float:
    if frac < warmup:
        return base * (frac / warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warmup) / (1 - warmup))))


def train(args) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    run = Path(args.runs) / args.name
    model = load_shipped(args.init)
    trainable = lambda: [p for n, p in model.named_parameters() if not n.startswith("ema.")]  # noqa: E731
    opt = torch.optim.Adam(trainable(), lr=args.lr)
    meta = {"step": 0, "elapsed_s": 0.0, "cpu_s": 0.0, "init": args.init, "lmin": args.lmin,
            "lmax": args.lmax, "steps": args.steps, "argv": sys.argv[1:], "log": []}
    if (run / "state.json").exists():
        meta = load_ckpt(run, model, opt)
        rng.seed(args.seed + meta["step"])  # a fresh but reproducible data stream after a resume
        print(f"resumed {run} at step {meta['step']}", flush=True)
    imgs = load_images(args.crop)
    print(f"{len(imgs)} training images; lambda {args.lmin}..{args.lmax}", flush=True)
    budget_s = args.budget_min * 60 if args.budget_min else float("inf")
    refit_imgs = [a for a in imgs if min(a.shape[:2]) >= args.crop_final]  # = load_images(crop_final)

    def progress() -> float:  # the schedules follow steps or CPU budget, whichever runs out first
        return min(1.0, max(meta["step"] / args.steps, meta["cpu_s"] / budget_s))

    gen = augmented_batches(imgs, args.batch, rng,
                            lambda: args.crop_final if progress() >= 1 - args.final_frac else args.crop)
    acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "n": 0}
    t_wall, t_cpu = time.time(), time.process_time()
    while progress() < 1.0:
        t = meta["step"]
        frac = progress()
        due = [r for r in args.refit_at if frac >= r and str(r) not in meta.setdefault("refits", {})]
        if due:  # the key -> row map is re-fitted on the EMA weights, and the live priors follow
            meta["refits"][str(due[0])] = {"step": t, "bits": refit_keys(model, refit_imgs, args)}
            for name, row in model.ema["priors"].rows.items():
                model.priors.rows[name].data.copy_(row)
                opt.state.pop(model.priors.rows[name], None)  # stale moments of the old rows
            for name, buf in model.ema["priors"].named_buffers():
                getattr(model.priors, name).copy_(buf)
            print("refit", json.dumps(meta["refits"][str(due[0])]), flush=True)
            save_ckpt(run, model, opt, meta)
        frozen = frac >= 1 - args.freeze_frac
        for n, p in model.named_parameters():
            if not n.startswith("ema."):
                synthesis = n.startswith(("net.vt_dec", "net.proj_out", "net.up"))
                p.requires_grad_(synthesis or not frozen)
        for g in opt.param_groups:
            g["lr"] = lr_at(frac, args.lr)
        lmbda = math.exp(rng.uniform(math.log(args.lmin), math.log(args.lmax)))
        x = next(gen)
        out = rd_forward(model.net, model.priors, x, lmbda)
        loss = out["mse"] + out["vq_dist"] + out["rate_bpd"] / lmbda
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable(), 1.0)
        opt.step()
        model.update_ema(min(args.ema, (1 + t) / (10 + t)))
        meta["step"] += 1
        acc["loss"] += float(loss.detach())
        acc["bpp"] += 3 * float(out["rate_bpd"].detach())
        acc["mse"] += float(out["mse"].detach())
        acc["n"] += 1
        now_w, now_c = time.time(), time.process_time()
        meta["elapsed_s"] += now_w - t_wall
        meta["cpu_s"] += now_c - t_cpu
        t_wall, t_cpu = now_w, now_c
        if meta["step"] % args.log_every == 0 or progress() >= 1.0:
            n = acc["n"]
            rec = {"step": meta["step"], "elapsed_s": round(meta["elapsed_s"], 1), "cpu_s": round(meta["cpu_s"], 1),
                   "loss": acc["loss"] / n, "bpp": acc["bpp"] / n, "psnr": psnr(acc["mse"] / n),
                   "crop": x.shape[-1], "frozen": frozen}
            meta["log"].append(rec)
            print(json.dumps(rec), flush=True)
            acc = {"loss": 0.0, "bpp": 0.0, "mse": 0.0, "n": 0}
        if meta["step"] % args.ckpt_every == 0:
            save_ckpt(run, model, opt, meta)
    save_ckpt(run, model, opt, meta)
    print(f"done {run}: {meta['step']} steps, {meta['elapsed_s']:.0f} s wall, {meta['cpu_s']:.0f} s CPU", flush=True)


@torch.no_grad()
def refit_keys(model: Tunable, imgs, args, rounds: int = 2, prior_weight: float = 64.0, min_count: int = 8) -> dict:
    """Re-assign each context key of a conditional layer to the table row that codes the
    indices seen under it most cheaply, then re-estimate the rows from the counts of their
    keys (shrunk towards the trained row by prior_weight pseudo-counts): entropy-constrained
    k-means, the discrete step gradient descent cannot take.  Counts come from --refit-crops
    training crops coded at lambdas drawn over the band; keys seen fewer than min_count times
    keep their row (a handful of indices would pick a row by chance).
    Returns per layer the ideal bits of those indices before and after."""
    net, priors = model.ema["net"], model.ema["priors"]
    rng = random.Random(args.seed + 1)
    gen = augmented_batches(imgs, args.batch, rng, lambda: args.crop_final)
    record: dict = {}
    for _ in range(max(1, args.refit_crops // args.batch)):
        lmbda = math.exp(rng.uniform(math.log(args.lmin), math.log(args.lmax)))
        rd_forward(net, priors, next(gen), lmbda, record)
    report = {}
    for (s, l), pairs in record.items():
        keys = torch.cat([k for k, _ in pairs]).long()
        index = torch.cat([i for _, i in pairs]).long()
        rows = priors.rows[f"{s}_{l}"]
        K = rows.shape[1]
        n_keys = priors.key_level(s, l).numel()
        counts = torch.bincount(keys * K + index, minlength=n_keys * K).view(n_keys, K).double()
        seen = counts.sum(1) >= min_count
        level = priors.key_level(s, l).clone()
        logp = F.log_softmax(rows.double(), -1)
        before = -(counts * logp[level]).sum() / LN2
        for _ in range(rounds):
            cost = -(counts[seen] @ logp.T)  # (seen keys, rows): nats of each key's indices under each row
            level[seen] = cost.argmin(1)
            per_row = torch.zeros_like(logp).index_add_(0, level[seen], counts[seen])
            logp = torch.log((per_row + prior_weight * logp.exp()) / (per_row.sum(1, keepdim=True) + prior_weight))
        after = -(counts * logp[level]).sum() / LN2
        if after < before:  # the rows and the map change together, or not at all
            rows.copy_(logp.float())
            priors.key_level(s, l).copy_(level)
        report[f"{s}.{l}"] = [round(float(before)), round(float(min(before, after)))]
    return report


def exported_parts(model: Tunable) -> tuple[NVTC, dict, dict]:
    """What export_tuned writes of a run: the EMA transforms, each layer's table rows, the
    key -> row maps of the conditional layers."""
    net, priors = model.ema["net"], model.ema["priors"]
    order = net.cfg.coding_order()
    logits = {(s, l): priors.rows[f"{s}_{l}"].detach() for s, l in order}
    key_level = {(s, l): priors.key_level(s, l) for s, l in order if net.previous(s, l)}
    return net, logits, key_level


def export(args) -> None:
    from aigif_codecs.nvtc.export import export_tuned

    run = Path(args.runs) / args.name
    model = load_shipped(args.init)
    meta = load_ckpt(run, model)
    args.lmin, args.lmax = meta["lmin"], meta["lmax"]
    if args.refit_crops:
        refit = refit_keys(model, load_images(args.crop_final), args)
        print("refit (ideal bits before, after):", json.dumps(refit), flush=True)
    net, logits, key_level = exported_parts(model)
    out = Path(args.out) if args.out else REPO / "codecs" / "weights" / f"nvtc-{args.rate}.safetensors"
    lmbda = math.sqrt(meta["lmin"] * meta["lmax"])
    digest = export_tuned(net, logits, key_level, lmbda, args.rate, out, train_info={
        "init": f"nvtc-{meta['init']}", "steps": meta["step"], "elapsed_s": round(meta["elapsed_s"]),
        "cpu_s": round(meta["cpu_s"]), "lambda_band": [meta["lmin"], meta["lmax"]],
        "refit_crops": args.refit_crops})
    print(f"{out} sha256 {digest}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["train", "export"])
    ap.add_argument("--name", required=True)
    ap.add_argument("--init", type=int, default=2, help="shipped rate point to start from")
    ap.add_argument("--runs", default=str(RUNS))
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--lmin", type=float, default=181.0)
    ap.add_argument("--lmax", type=float, default=724.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--crop-final", type=int, default=256)
    ap.add_argument("--final-frac", type=float, default=0.1, help="last fraction of steps at --crop-final")
    ap.add_argument("--freeze-frac", type=float, default=0.1, help="last fraction tuning the synthesis only")
    ap.add_argument("--budget-min", type=float, default=0.0,
                    help="stop after this many minutes of CPU time (0: no limit); the schedules follow it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--rate", type=int, help="export: the zoo number the weights are written as")
    ap.add_argument("--refit-crops", type=int, default=128,
                    help="re-assign context keys to table rows on this many training crops (export: 0 = off)")
    ap.add_argument("--refit-at", type=lambda v: [float(x) for x in v.split(",") if x], default=[0.4, 0.8],
                    help="train: fractions of the schedule at which the key -> row map is re-fitted")
    ap.add_argument("--out", help="export: write here instead of codecs/weights/nvtc-RATE.safetensors")
    args = ap.parse_args(argv)
    (train if args.phase == "train" else export)(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
