#!/usr/bin/env python3
"""Train the embedded default model registry/embedded/shapes-sd from scratch on CPU.

A real diffusers StableDiffusionPipeline (CLIP text encoder, UNet, VAE, Euler scheduler)
that draws what short prompts name within a small vocabulary: coloured shapes
(circle, square, triangle, star, heart, diamond) in 12 colours, at five positions, in
three sizes, on a coloured background, e.g. "a red circle on a blue background",
"a small yellow star at the top", "a big green heart on the left on a black background".

Nothing is downloaded: the data set is drawn with Pillow from a fixed seed, the CLIP BPE
tokenizer is learnt from the vocabulary below (every vocabulary word is one token), and
all weights start from a fixed torch seed.  Training runs on one CPU thread, so the run
is reproducible with the same torch / diffusers / transformers versions.

    python tools/train_default_model.py --work /tmp/shapes-sd train     # stages 1-4, resumable
    python tools/train_default_model.py --work /tmp/shapes-sd eval      # shape/colour recognition
    python tools/train_default_model.py --work /tmp/shapes-sd export    # -> registry/
    python tools/train_default_model.py --work /tmp/shapes-sd gallery   # -> docs/gallery.png

Stages (each checkpoints to --work as safetensors and resumes where it stopped):
  1. vae:     AutoencoderKL (4x downsampling: 64 px -> 16x16x4 latent) on the images;
  2. latents: every image encoded once (posterior mean); the std sets vae.scaling_factor;
  3. decoder: the VAE decoder alone fine-tuned on those latents (the latent space stays);
  4. unet:    UNet + text encoder on the latents, plain v-prediction loss and
              10 % caption dropout (so classifier-free guidance > 1 sharpens the prompt).
Stages 3 and 4 do not depend on each other: `--stages decoder` and `--stages unet` may run
as two processes side by side. The loss curve and wall/CPU time of every stage go to
--work/log.jsonl and summary.json; config.json lists every invocation (the recipe).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import make_embedded_models as mem  # noqa: E402  (shared tokenizer/scheduler/registry helpers)

NAME = "shapes-sd"
MODEL_ID = 30
SEED = 20261201
SIZE = 64

# name -> sRGB; chosen far apart so "the dominant colour" of a picture is unambiguous.
COLOURS = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (245, 220, 30),
    "green": (40, 170, 50),
    "cyan": (30, 200, 220),
    "blue": (30, 70, 220),
    "purple": (140, 50, 190),
    "pink": (245, 120, 180),
    "brown": (130, 80, 40),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
}
SHAPES = ["circle", "square", "triangle", "star", "heart", "diamond"]
# position word -> (dx, dy) from the image centre, in units of POSITION_OFFSET
POSITIONS = {"center": (0, 0), "left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1)}
POSITION_PHRASE = {"center": "in the center", "left": "on the left", "right": "on the right",
                   "top": "at the top", "bottom": "at the bottom"}
SIZES = {"small": 8, "medium": 13, "big": 18}  # radius in px; "medium" is the unnamed default
POSITION_OFFSET = 15
# The UNet's recipe as it was run: four cosine schedules, each resumed from the previous
# one's last checkpoint (800 steps were planned first; the model was still learning, so the
# run was extended three times; circle, square and heart became distinct only after 4,000).
UNET_SCHEDULES = "800,2000,6000,10000"
DEFAULT_BACKGROUND = "white"  # what a prompt without "on a ... background" gets
VOCABULARY = (["a", "an", "on", "in", "at", "the", "background", "small", "big"] + list(COLOURS) + SHAPES
              + ["center", "left", "right", "top", "bottom"])


# ---------------------------------------------------------------- data set


def shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        s = r * 0.85
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)]
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.42
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    return None


def draw_scene(colour: str, shape: str, size: str, position: str, background: str, jitter=(0, 0, 0)):
    """One 64x64 RGB scene, drawn at 4x and box-downsampled so edges are anti-aliased."""
    from PIL import Image, ImageDraw

    k = 4
    img = Image.new("RGB", (SIZE * k, SIZE * k), COLOURS[background])
    d = ImageDraw.Draw(img)
    dx, dy = POSITIONS[position]
    cx = (SIZE / 2 + dx * POSITION_OFFSET + jitter[0]) * k
    cy = (SIZE / 2 + dy * POSITION_OFFSET + jitter[1]) * k
    r = (SIZES[size] + jitter[2]) * k
    fill = COLOURS[colour]
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "heart":
        lobe = r * 0.5
        d.ellipse([cx - 2 * lobe, cy - r * 0.75, cx, cy - r * 0.75 + 2 * lobe], fill=fill)
        d.ellipse([cx, cy - r * 0.75, cx + 2 * lobe, cy - r * 0.75 + 2 * lobe], fill=fill)
        d.polygon([(cx - 2 * lobe + r * 0.03, cy - r * 0.2), (cx + 2 * lobe - r * 0.03, cy - r * 0.2), (cx, cy + r)], fill=fill)
    else:
        d.polygon(shape_polygon(shape, cx, cy, r), fill=fill)
    return img.resize((SIZE, SIZE), Image.BOX)


def caption(colour: str, shape: str, size: str, position: str, background: str, rng) -> str:
    """Captions name every attribute that differs from its default; defaults are named
    only sometimes, so "a red circle" and "a red circle in the center on a white
    background" mean the same picture."""
    words = []
    if size != "medium":
        words.append(size)
    words += [colour, shape]
    article = "an" if words[0][0] in "aeiou" else "a"
    text = " ".join(words)
    if rng.random() < 0.85:
        text = f"{article} {text}"
    if position != "center" or rng.random() < 0.3:
        text += " " + POSITION_PHRASE[position]
    if background != DEFAULT_BACKGROUND or rng.random() < 0.3:
        text += f" on {'an' if background[0] in 'aeiou' else 'a'} {background} background"
    return text


def make_dataset(n: int, seed: int):
    """(uint8 tensor n x 3 x 64 x 64, captions) - a pure function of (n, seed)."""
    import random

    import numpy as np
    import torch

    rng = random.Random(seed)
    colours = list(COLOURS)
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.uint8)
    captions = []
    for i in range(n):
        colour = rng.choice(colours)
        shape = rng.choice(SHAPES)
        size = rng.choice(list(SIZES))
        position = "center" if rng.random() < 0.35 else rng.choice(list(POSITIONS))
        if rng.random() < 0.3:
            background = DEFAULT_BACKGROUND
        else:
            background = rng.choice(colours)
        if background == colour:  # an invisible shape teaches nothing
            background = DEFAULT_BACKGROUND if colour != DEFAULT_BACKGROUND else "black"
        jitter = (rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-1, 1))
        img = draw_scene(colour, shape, size, position, background, jitter)
        images[i] = np.asarray(img).transpose(2, 0, 1)
        captions.append(caption(colour, shape, size, position, background, rng))
    return torch.from_numpy(images), captions


# ---------------------------------------------------------------- recognising a drawn shape


def foreground_mask(arr):
    """Pixels that differ from the background (the border's median colour) by > 60 in RGB."""
    import numpy as np

    arr = np.asarray(arr, dtype=float)
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    return np.linalg.norm(arr - np.median(border, axis=0), axis=2) > 60


def nearest_colour(rgb) -> str:
    """The palette colour nearest an RGB value (Euclidean in sRGB)."""
    import numpy as np

    return min(COLOURS, key=lambda c: np.linalg.norm(np.asarray(COLOURS[c], float) - np.asarray(rgb, float)))


def shape_template(shape: str, cx: float, cy: float, r: float):
    """The data set's own drawing of `shape` (draw_scene, anti-aliased), as a mask."""
    import numpy as np

    img = draw_scene("black", shape, "medium", "center", "white",
                     (cx - SIZE / 2, cy - SIZE / 2, r - SIZES["medium"]))
    return np.asarray(img.convert("L")) < 128


def shape_scores(mask) -> dict[str, float]:
    """IoU of `mask` with each shape of the vocabulary drawn with the same area and
    centroid: the named shape should score highest. A blob matches a circle best, so
    this is a check that corners, points and notches are really drawn."""
    import numpy as np

    area = mask.sum()
    if area < 20:
        return {s: 0.0 for s in SHAPES}
    ys, xs = np.nonzero(mask)
    mx, my = xs.mean(), ys.mean()
    scores = {}
    for shape in SHAPES:
        ref = shape_template(shape, SIZE / 2, SIZE / 2, SIZES["medium"])
        r = SIZES["medium"] * math.sqrt(area / max(1, ref.sum()))
        ty, tx = np.nonzero(shape_template(shape, SIZE / 2, SIZE / 2, r))
        # place the template so its centroid falls on the mask's
        t = shape_template(shape, SIZE / 2 + mx - tx.mean(), SIZE / 2 + my - ty.mean(), r)
        scores[shape] = float((t & mask).sum() / max(1, (t | mask).sum()))
    return scores


def recognised_shape(image) -> str:
    import numpy as np

    scores = shape_scores(foreground_mask(np.asarray(image.convert("RGB"))))
    return max(scores, key=scores.get)


# ---------------------------------------------------------------- model parts


def build_tokenizer():
    from transformers import CLIPTokenizer

    byte_chars = list(mem.bytes_to_unicode().values())
    merges = mem.learn_bpe(VOCABULARY, 10_000)  # full closure: every vocabulary word is one token
    vocab_list = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = CLIPTokenizer(vocab=vocab, merges=list(merges), pad_token="<|endoftext|>", model_max_length=77)
    return tok, vocab, merges


def make_text_encoder(vocab):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, projection_dim=64,
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"], hidden_act="quick_gelu", layer_norm_eps=1e-5,
    ))


def make_vae():
    from diffusers import AutoencoderKL

    # Three blocks -> two downsamples: 64 px -> 16x16x4.  Flat shapes compress easily, and
    # a 16x16 latent makes the UNet 4x cheaper than tiny-sd's 32x32.
    return AutoencoderKL(
        in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64), layers_per_block=1, latent_channels=4,
        norm_num_groups=8, sample_size=SIZE, mid_block_add_attention=False,
    )


def make_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SIZE // 4, in_channels=4, out_channels=4,
        # 16 -> 8 -> 4; text cross-attention at 8x8 and 4x4 (at 16x16 it tripled the step
        # time for little gain: one 8x8 cell is 8 px of picture, fine enough for positions)
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64, 96), layers_per_block=1, cross_attention_dim=64,
        attention_head_dim=4, norm_num_groups=16,
        # An attention-pooled text embedding added to the time embedding reaches every
        # resnet: without it, 300 steps had learnt no text at all (every prompt gave the
        # same picture); colours and background are global, so this path learns them fast.
        addition_embed_type="text", addition_embed_type_num_heads=4,
    )


def make_scheduler():
    """tiny-sd's Euler / SD 1.x training schedule, but v-prediction: a first run with
    epsilon prediction denoised training latents well yet sampled every picture with a
    wrong (mostly green) background, because at high noise an epsilon model's small
    errors are amplified ~12x into the picture's mean colour; v predicts that mean directly."""
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler.from_config(mem.make_scheduler().config, prediction_type="v_prediction")


# ---------------------------------------------------------------- checkpoints


def atomic_save(tensors: dict, path: Path, meta: dict) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"meta": json.dumps(meta)})
    os.replace(tmp, path)


def load_ckpt(path: Path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = json.loads(f.metadata()["meta"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, meta


def pack_state(modules: dict, opt, ema: dict | None) -> dict:
    """Weights, AdamW moments and EMA weights in one flat tensor dict (no pickle)."""
    out = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            out[f"model.{name}.{k}"] = v
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            st = opt.state.get(p)
            if st:
                out[f"opt.{i}.{j}.exp_avg"] = st["exp_avg"]
                out[f"opt.{i}.{j}.exp_avg_sq"] = st["exp_avg_sq"]
                out[f"opt.{i}.{j}.step"] = st["step"].reshape(1) if st["step"].dim() == 0 else st["step"]
    if ema:
        for k, v in ema.items():
            out[f"ema.{k}"] = v
    return out


def unpack_state(tensors: dict, modules: dict, opt, ema: dict | None) -> None:
    for name, m in modules.items():
        prefix = f"model.{name}."
        m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            key = f"opt.{i}.{j}."
            if key + "exp_avg" in tensors:
                opt.state[p] = {"exp_avg": tensors[key + "exp_avg"].clone(), "exp_avg_sq": tensors[key + "exp_avg_sq"].clone(),
                                "step": tensors[key + "step"].reshape(()).clone()}
    if ema is not None:
        for k in ema:
            ema[k].copy_(tensors[f"ema.{k}"])


class Log:
    def __init__(self, work: Path):
        self.path = work / "log.jsonl"

    def write(self, **rec) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


class StageClock:
    """Wall and CPU seconds a stage has used over all its runs; kept in each checkpoint's
    metadata, so the time spent before an interruption is not lost."""

    def __init__(self, meta: dict | None = None):
        meta = meta or {}
        self.wall0, self.cpu0 = meta.get("wall_s", 0.0), meta.get("cpu_s", 0.0)
        self.t0, self.c0 = time.time(), time.process_time()

    def totals(self) -> dict:
        return {"wall_s": self.wall0 + time.time() - self.t0, "cpu_s": self.cpu0 + time.process_time() - self.c0}


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


# ---------------------------------------------------------------- stages


def load_or_make_dataset(work: Path, n: int):
    import torch
    from safetensors.torch import load_file, save_file

    path = work / "dataset.safetensors"
    if path.exists():
        images = load_file(str(path))["images"]
        captions = json.loads((work / "captions.json").read_text())
    else:
        images, captions = make_dataset(n, SEED)
        (work / "captions.json").write_text(json.dumps(captions))
        save_file({"images": images}, str(path.with_suffix(".tmp")))
        os.replace(path.with_suffix(".tmp"), path)
    assert images.shape[0] == n, "work dir was made with another --n"
    return images, captions


def timed(work: Path, stage: str, fn):
    """Run a stage, adding its wall and CPU seconds to summary.json (resumed runs add up)."""
    summ_path = work / "summary.json"
    summary = json.loads(summ_path.read_text()) if summ_path.exists() else {}
    w0, c0 = time.time(), time.process_time()
    try:
        return fn()
    finally:
        summary = json.loads(summ_path.read_text()) if summ_path.exists() else {}
        st = summary.setdefault(stage, {"wall_s": 0.0, "cpu_s": 0.0})
        st["wall_s"] += time.time() - w0
        st["cpu_s"] += time.process_time() - c0
        summ_path.write_text(json.dumps(summary, indent=2))


def train_vae(work: Path, images, steps: int, batch: int, log: Log) -> None:
    import torch

    ck = work / "vae.safetensors"
    torch.manual_seed(SEED + 1)
    vae = make_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    start, clock = 0, StageClock()
    if ck.exists():
        tensors, meta = load_ckpt(ck)
        unpack_state(tensors, {"vae": vae}, opt, None)
        start = meta["step"]
        clock = StageClock(meta)
    n = images.shape[0]
    for step in range(start, steps):
        g = torch.Generator().manual_seed(SEED * 7 + step)  # per-step stream: resume == uninterrupted
        idx = torch.randint(0, n, (batch,), generator=g)
        x = images[idx].float() / 127.5 - 1
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, 1e-3, 50)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        rec = vae.decode(z).sample
        mse = torch.nn.functional.mse_loss(rec, x)
        kl = post.kl().mean() / z[0].numel()
        loss = mse + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            log.write(stage="vae", step=step, mse=round(mse.item(), 6), kl=round(kl.item(), 4), t=time.time())
        if (step + 1) % 100 == 0 or step == steps - 1:
            atomic_save(pack_state({"vae": vae}, opt, None), ck, {"step": step + 1, **clock.totals()})


def encode_latents(work: Path, images, log: Log) -> None:
    import torch

    out = work / "latents.safetensors"
    tensors, vae_meta = load_ckpt(work / "vae.safetensors")
    if out.exists() and load_ckpt(out)[1].get("vae_step") == vae_meta["step"]:
        return
    vae = make_vae()
    vae.load_state_dict({k[len("model.vae."):]: v for k, v in tensors.items() if k.startswith("model.vae.")})
    vae.eval()
    chunks = []
    with torch.no_grad():
        for i in range(0, images.shape[0], 256):
            x = images[i:i + 256].float() / 127.5 - 1
            chunks.append(vae.encode(x).latent_dist.mean)
    lat = torch.cat(chunks)
    std = lat.std().item()
    log.write(stage="latents", n=lat.shape[0], mean=lat.mean().item(), std=std)
    atomic_save({"latents": lat}, out, {"scaling_factor": 1.0 / std, "vae_step": vae_meta["step"]})


def tune_decoder(work: Path, images, steps: int, batch: int, log: Log) -> None:
    """Fine-tune only the VAE decoder on the cached latents. The encoder, hence the latent
    space the UNet learns, is untouched, so this stage is independent of the UNet's. After
    the joint stage (500 steps, under one pass over the data) the decoder rounded every
    corner: a star came back a pentagon, a heart a blob, a square a rounded square. L1 is
    added to the MSE because it does not forgive the small, edge-only errors MSE averages away."""
    import torch

    ck = work / "decoder.safetensors"
    vt, vae_meta = load_ckpt(work / "vae.safetensors")
    lat_t, lat_meta = load_ckpt(work / "latents.safetensors")
    latents = lat_t["latents"]
    torch.manual_seed(SEED + 3)
    vae = make_vae()
    vae.load_state_dict({k[len("model.vae."):]: v for k, v in vt.items() if k.startswith("model.vae.")})
    decoder_params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(decoder_params, lr=5e-4, weight_decay=0.0)
    start, clock = 0, StageClock()
    if ck.exists():
        tensors, meta = load_ckpt(ck)
        assert meta["vae_step"] == vae_meta["step"], "decoder checkpoint was tuned from another VAE"
        unpack_state(tensors, {"vae": vae}, opt, None)
        start = meta["step"]
        clock = StageClock(meta)
    n = latents.shape[0]
    for step in range(start, steps):
        g = torch.Generator().manual_seed(SEED * 13 + step)
        idx = torch.randint(0, n, (batch,), generator=g)
        x = images[idx].float() / 127.5 - 1
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, 5e-4, 50)
        rec = vae.decode(latents[idx]).sample
        mse = torch.nn.functional.mse_loss(rec, x)
        loss = mse + (rec - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder_params, 1.0)
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            log.write(stage="decoder", step=step, mse=round(mse.item(), 6), loss=round(loss.item(), 6), t=time.time())
        if (step + 1) % 100 == 0 or step == steps - 1:
            atomic_save(pack_state({"vae": vae}, opt, None), ck,
                        {"step": step + 1, "vae_step": vae_meta["step"], **clock.totals()})


def train_unet(work: Path, captions, steps: int, batch: int, lr: float, log: Log, stop_at: int | None = None) -> None:
    """`steps` sets the learning-rate schedule; `stop_at` (a multiple of 100) ends the run
    early on that schedule, e.g. when the CPU time ran out, and is still reproducible."""
    import torch
    from diffusers import DDPMScheduler

    ck = work / "unet.safetensors"
    lat_t, lat_meta = load_ckpt(work / "latents.safetensors")
    latents = lat_t["latents"] * lat_meta["scaling_factor"]
    tok, vocab, _ = build_tokenizer()
    ids = tok(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    empty = tok([""], padding="max_length", max_length=77, return_tensors="pt").input_ids[0]
    torch.manual_seed(SEED + 2)
    unet = make_unet()
    text = make_text_encoder(vocab)
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    ema = {f"unet.{k}": v.detach().clone() for k, v in unet.state_dict().items()}
    ema |= {f"text.{k}": v.detach().clone() for k, v in text.state_dict().items()}
    start, clock = 0, StageClock()
    if ck.exists():
        tensors, meta = load_ckpt(ck)
        unpack_state(tensors, {"unet": unet, "text": text}, opt, ema)
        start = meta["step"]
        clock = StageClock(meta)
    ddpm = DDPMScheduler.from_config(make_scheduler().config)
    alphas = ddpm.alphas_cumprod
    n = latents.shape[0]
    running = None
    end = min(steps, stop_at or steps)
    for step in range(start, end):
        g = torch.Generator().manual_seed(SEED * 11 + step)
        idx = torch.randint(0, n, (batch,), generator=g)
        x0 = latents[idx]
        tid = ids[idx].clone()
        drop = torch.rand(batch, generator=g) < 0.1  # caption dropout -> the unconditional branch of CFG
        tid[drop] = empty
        t = torch.randint(0, 1000, (batch,), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        target = a.sqrt() * eps - (1 - a).sqrt() * x0  # v (Salimans & Ho 2022)
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, 100)
        cond = text(tid)[0]
        pred = unet(xt, t, encoder_hidden_states=cond).sample
        # Plain (unweighted) v loss: min-SNR weighting for v, min(snr, 5) / (snr + 1), nearly
        # zeroes the high-noise steps - exactly where the text decides the picture's
        # colours - and a run with it had learnt no text after 200 steps.
        loss = ((pred - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for prefix, m in (("unet.", unet), ("text.", text)):
                for k, v in m.state_dict().items():
                    e = ema[prefix + k]
                    if v.dtype.is_floating_point:
                        e.mul_(decay).add_(v, alpha=1 - decay)
                    else:
                        e.copy_(v)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 25 == 0 or step == end - 1:
            log.write(stage="unet", step=step, loss=round(loss.item(), 5), smooth=round(running, 5),
                      lr=round(cosine_lr(step, steps, lr, 100), 7), t=time.time())
        if (step + 1) % 100 == 0 or step == end - 1:
            atomic_save(pack_state({"unet": unet, "text": text}, opt, ema), ck, {"step": step + 1, **clock.totals()})


# ---------------------------------------------------------------- export


def build_pipeline(work: Path, use_ema: bool = True):
    import torch
    from diffusers import StableDiffusionPipeline

    tok, vocab, merges = build_tokenizer()
    vae = make_vae()
    # the tuned decoder when that stage has run (its encoder is the joint stage's, unchanged)
    vae_ck = work / "decoder.safetensors"
    vt, _ = load_ckpt(vae_ck if vae_ck.exists() else work / "vae.safetensors")
    vae.load_state_dict({k[len("model.vae."):]: v for k, v in vt.items() if k.startswith("model.vae.")})
    _, lat_meta = load_ckpt(work / "latents.safetensors")
    vae.register_to_config(scaling_factor=float(f"{lat_meta['scaling_factor']:.6f}"))
    unet, text = make_unet(), make_text_encoder(vocab)
    ut, _ = load_ckpt(work / "unet.safetensors")
    src = "ema." if use_ema else "model."
    unet.load_state_dict({k[len(src + "unet."):]: v for k, v in ut.items() if k.startswith(src + "unet.")})
    text.load_state_dict({k[len(src + "text."):]: v for k, v in ut.items() if k.startswith(src + "text.")})
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=make_scheduler(),
        safety_checker=None, feature_extractor=None, image_encoder=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe, vocab, merges


DESCRIPTION = ("Embedded default model: SD 1.x architecture trained from scratch on drawn coloured shapes "
               "(tools/train_default_model.py), 64 px")
DEFAULTS = dict(steps=20, guidance="5.0", width=64, height=64, scheduler="euler", negative_prompt="")


def registry_entry(sums: dict[str, str]) -> str:
    text = mem.registry_entry(NAME, dict(id=MODEL_ID, family="sd1", pipeline_class="StableDiffusionPipeline",
                                         description=DESCRIPTION), sums)
    text = text.replace("tools/make_embedded_models.py", "tools/train_default_model.py")
    for key, value in DEFAULTS.items():
        old = {k: v for k, v in mem.DEFAULTS.items()}[key]
        fmt = (lambda v: mem.toml_str(v)) if isinstance(value, str) else str
        text = text.replace(f"\n{key} = {fmt(old)}\n", f"\n{key} = {fmt(value)}\n", 1)
    return text


def export(work: Path) -> None:
    import torch

    torch.set_num_threads(1)
    pipe, vocab, merges = build_pipeline(work)
    target = mem.REGISTRY / "embedded" / NAME
    with tempfile.TemporaryDirectory(dir=mem.REGISTRY) as tmp:
        out = Path(tmp) / NAME
        # stored in float16 to keep the shipped weights small (14.1 -> 7.0 MB); the registry
        # entry loads them as float32 (torch_dtype), so every run computes in float32 on
        # these rounded values and regenerates the same bytes everywhere
        pipe.to(torch.float16).save_pretrained(out, safe_serialization=True)
        mem.write_slow_tokenizer_files(out / "tokenizer", vocab, merges)
        for p in out.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        sums = mem.hash_tree(out)
        mem.write_sums(out, sums)
        old = target.with_name(NAME + ".old")
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        shutil.move(str(out), str(target))
        if old.exists():
            shutil.rmtree(old)
    entry = mem.REGISTRY / "models" / f"{MODEL_ID:04d}-{NAME}.toml"
    tmp = entry.with_suffix(".toml.tmp")
    tmp.write_text(registry_entry(sums), encoding="utf-8")
    os.replace(tmp, entry)
    weights = sum((target / f).stat().st_size for f in sums if f.endswith(".safetensors"))
    print(f"{NAME}: {len(sums)} files, {weights} bytes of safetensors -> {target}")


# ---------------------------------------------------------------- gallery

GALLERY = [
    "a red circle on a blue background",
    "a yellow star on a black background",
    "a big green heart",
    "a small blue square on the left",
    "an orange triangle at the top",
    "a purple diamond on a yellow background",
    "a pink circle on the right on a gray background",
    "a white star on a red background",
    "a black triangle at the bottom on a cyan background",
    "a big brown square on a green background",
    "a cyan heart on a purple background",
    "a small gray diamond on an orange background",
]


def gallery(out: Path, seed: int = 7) -> None:
    """The 12 GALLERY prompts through aigif itself (registry model, default syntax), each
    picture shown at 2x beside its prompt: what `aigif unpack` regenerates."""
    from PIL import Image, ImageDraw, ImageFont

    import aigif

    cell_w, cell_h, cols = 200, 170, 4
    rows = math.ceil(len(GALLERY) / cols)
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 11)
    except OSError:
        font = ImageFont.load_default()
    for i, prompt in enumerate(GALLERY):
        image = aigif.generate({"model": NAME, "prompt": prompt, "seed": seed}, threads=1)
        x, y = (i % cols) * cell_w, (i // cols) * cell_h
        sheet.paste(image.resize((128, 128), Image.NEAREST), (x + (cell_w - 128) // 2, y + 4))
        words, lines = prompt.split(), [""]
        for w in words:  # wrap to the cell width
            trial = (lines[-1] + " " + w).strip()
            if d.textlength(trial, font=font) > cell_w - 8:
                lines.append(w)
            else:
                lines[-1] = trial
        for k, line in enumerate(lines):
            d.text((x + cell_w / 2, y + 136 + 13 * k), line, fill=(0, 0, 0), font=font, anchor="ma")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    sheet.save(tmp, optimize=True)
    os.replace(tmp, out)
    print(f"wrote {out} ({len(GALLERY)} prompts, seed {seed})")


def report(work: Path, every: int = 500) -> str:
    """The loss curve (mean of the logged losses per `every` steps, each stage) and the
    time of every stage, from --work/log.jsonl and summary.json, as Markdown."""
    rows: dict[str, dict[int, list[float]]] = {}
    for line in (work / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        key = {"vae": "mse", "decoder": "mse", "unet": "loss"}.get(rec.get("stage"))
        if key and key in rec:
            rows.setdefault(rec["stage"], {}).setdefault(rec["step"] // every, []).append(rec[key])
    width = max(len(v) for v in rows.values())
    out = ["| stage | loss | " + " | ".join(f"{k * every}-" for k in range(width)) + " |",
           "|---|---|" + "---|" * width]
    for stage, buckets in rows.items():
        cells = [f"{sum(v) / len(v):.4f}" for _, v in sorted(buckets.items())]
        cells += [""] * (width - len(cells))
        out.append(f"| {stage} | {'MSE' if stage != 'unet' else 'v loss'} | " + " | ".join(cells) + " |")
    summary = json.loads((work / "summary.json").read_text())
    out.append("")
    out.append("| stage | wall s | CPU s |")
    out.append("|---|---:|---:|")
    for stage, t in summary.items():
        out.append(f"| {stage} | {t['wall_s']:.0f} | {t['cpu_s']:.0f} |")
    return "\n".join(out)


EVAL_COLOURS = ["red", "blue", "green", "yellow", "purple", "black"]
EVAL_BACKGROUNDS = [None, "blue", None, "black", "gray", "yellow"]


def evaluate(pipe, seeds=(1, 2), out: Path | None = None) -> dict:
    """Shape and colour recognition on 6 shapes x 6 colours x `seeds` (backgrounds vary):
    the measure used to compare checkpoints. Runs the pipeline at the registry defaults."""
    import numpy as np
    import torch
    from PIL import Image

    hits = {"shape": 0, "colour": 0, "n": 0}
    confusion: dict[str, dict[str, int]] = {s: {} for s in SHAPES}
    tiles = []
    for shape in SHAPES:
        for colour, bg in zip(EVAL_COLOURS, EVAL_BACKGROUNDS):
            if bg == colour:
                bg = "white"
            prompt = f"a {colour} {shape}" + (f" on a {bg} background" if bg else "")
            for seed in seeds:
                image = pipe(prompt, num_inference_steps=DEFAULTS["steps"], guidance_scale=float(DEFAULTS["guidance"]),
                             width=SIZE, height=SIZE, generator=torch.Generator().manual_seed(seed)).images[0]
                arr = np.asarray(image.convert("RGB")).astype(float)
                mask = foreground_mask(arr)
                scores = shape_scores(mask)
                got = max(scores, key=scores.get)
                confusion[shape][got] = confusion[shape].get(got, 0) + 1
                rgb = np.median(arr[mask], axis=0) if mask.sum() else np.zeros(3)
                named = nearest_colour(rgb)
                hits["shape"] += got == shape
                hits["colour"] += named == colour
                hits["n"] += 1
                tiles.append(image)
    if out:
        cols = len(EVAL_COLOURS) * len(seeds)
        sheet = Image.new("RGB", (cols * SIZE, len(SHAPES) * SIZE))
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % cols) * SIZE, (i // cols) * SIZE))
        sheet.resize((sheet.width * 2, sheet.height * 2), Image.NEAREST).save(out)
    return {**hits, "confusion": confusion}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="checkpoint folder (outside the repo)")
    ap.add_argument("--n", type=int, default=20000, help="data set size")
    ap.add_argument("--vae-steps", type=int, default=500)
    ap.add_argument("--vae-batch", type=int, default=32)
    ap.add_argument("--decoder-steps", type=int, default=1500)
    ap.add_argument("--unet-steps", default=UNET_SCHEDULES,
                    help="comma-separated cosine schedule lengths run one after the other, each resuming "
                         "from the last (a warm restart at each boundary); the shipped weights' recipe is the default")
    ap.add_argument("--unet-batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=8e-4)
    ap.add_argument("--unet-stop-at", type=int, help="end the UNet stage at this step of the --unet-steps schedule")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "gallery.png", help="gallery: where the PNG grid goes")
    ap.add_argument("--stages", default="vae,decoder,unet",
                    help="train: which of the model stages to run (the decoder and UNet stages are "
                         "independent of each other, so two processes may run them side by side)")
    ap.add_argument("what", choices=["train", "export", "gallery", "eval", "report"])
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    if args.what == "gallery":
        gallery(args.out)
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    if args.what == "export":
        export(args.work)
        return 0
    if args.what == "report":
        print(report(args.work))
        return 0
    if args.what == "eval":
        if (args.work / "unet.safetensors").exists():
            pipe = build_pipeline(args.work)[0]
        else:  # no checkpoints here: the shipped weights, as the registry entry loads them
            from diffusers import StableDiffusionPipeline

            pipe = StableDiffusionPipeline.from_pretrained(mem.REGISTRY / "embedded" / NAME, torch_dtype=torch.float32,
                                                           safety_checker=None, requires_safety_checker=False)
            pipe.set_progress_bar_config(disable=True)
        result = evaluate(pipe, out=args.work / "eval.png")
        print(json.dumps(result))
        return 0
    cfg_path = args.work / "config.json"
    cfg = {k: v for k, v in vars(args).items() if k not in ("work", "what", "out")}
    cfg["seed"] = SEED
    cfg["versions"] = {"torch": torch.__version__, "diffusers": __import__("diffusers").__version__,
                       "transformers": __import__("transformers").__version__}
    # every invocation is kept (a resumed or split run is several), so the recipe can be replayed
    runs = json.loads(cfg_path.read_text()) if cfg_path.exists() else []
    runs = runs if isinstance(runs, list) else [runs]
    cfg_path.write_text(json.dumps(runs + [cfg], indent=2))
    log = Log(args.work)
    images, captions = timed(args.work, "dataset", lambda: load_or_make_dataset(args.work, args.n))
    stages = set(args.stages.split(","))
    if "vae" in stages:
        timed(args.work, "vae", lambda: train_vae(args.work, images, args.vae_steps, args.vae_batch, log))
        timed(args.work, "latents", lambda: encode_latents(args.work, images, log))
    if "decoder" in stages:
        timed(args.work, "decoder", lambda: tune_decoder(args.work, images, args.decoder_steps, args.vae_batch, log))
    if "unet" in stages:
        for total in (int(x) for x in args.unet_steps.split(",")):  # a finished schedule is skipped on resume
            timed(args.work, "unet", lambda: train_unet(args.work, captions, total, args.unet_batch, args.lr, log, args.unet_stop_at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
