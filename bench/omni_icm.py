"""Omni-ICM (codec 18) on machine tasks it never trained on: accuracy against bits per pixel,
beside WebP and JPEG pixels passed through the same backbone.  Writes bench/RESULTS-omni.md.

Images: the held-out split of /work/shared/data/train-images (tools/train_omni.py
held_out(): sha256 starting 0 or 1; the codec never trained on it) plus Kodak-24 (never
trained on).

Task (a), retrieval of augmented views: gallery = every image, query = QUERIES random
views of each (resized crop of 30-100 % of the area, flip, brightness/contrast/saturation
0.6-1.4, seeded) at the original resolution.  Gallery and queries are both coded at the
rate point; top-1 = the nearest gallery embedding (cosine) is the query's own image.

Task (b), linear probe on a labelled set built here: the label of an image is the
held-out photo it comes from.  A ridge classifier (one-hot targets, standardised
embeddings, fixed alpha) is fit on the coded originals plus TRAIN_VIEWS other random views
of each, and scored on the coded queries of task (a), at the same rate point.  A probe of
8 procedurally drawn shape classes (circle, square, triangle, ring, cross, star, two
stripe patches; random size, position, rotation, colour, on crops of the held-out photos)
was built first: this backbone scores near chance on it even on uncoded pixels, so it is
reported for the uncoded pixels only.

Every path ends in the same network: pixels -> preprocess (downscale to 256) ->
backbone -> filter -> head (omni: the decoded integers * step -> head; pixels: the
unquantised features -> head).  Pixel codecs are the product's own (aigif_codecs.encode,
Pillow WebP/JPEG); "@256" rows code the image downscaled to the network's input size
first (what a pixel system built for this backbone would store), "@128", "@64" and "@32"
rows code it at 1/2, 1/4 or 1/8 of that size and upscale the decoded pixels to it
(Lanczos) before the network (the pixel path's lowest rates), the plain rows code the
original.  "webp (best size)" is the Pareto front over every WebP size: the strongest
WebP anchor.  bpp is payload bits over
the original's pixels, for every row.

BD (accuracy-rate): log-rate over accuracy by PCHIP on each curve's Pareto points (a
point whose accuracy no cheaper point reaches), averaged over the overlapping accuracy
range; negative = fewer bits than the anchor at equal accuracy.

  nice -n 19 python bench/omni_icm.py            # full run (results cached in /tmp/omni-bench.json)
  nice -n 19 python bench/omni_icm.py --quick    # a few images, to check the script
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageEnhance

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import train_omni  # noqa: E402  (the held-out split and the source-tree import of aigif_codecs)

import aigif_codecs  # noqa: E402
from aigif_codecs.omni import STEP_64  # noqa: E402
from aigif_codecs.omni import codec as omni  # noqa: E402
from aigif_codecs.omni.preprocess import network_input, working_size  # noqa: E402

KODAK = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data")) / "kodak"
CACHE = Path("/tmp/omni-bench.json")
OUT = REPO / "bench" / "RESULTS-omni.md"
QUERIES = 2
TRAIN_VIEWS = 2  # photo-identity probe: fit on the original and these views, scored on the queries
PER_CLASS = 30  # shape-probe images per class, each of train and test
RIDGE_ALPHA = 10.0
OMNI_Q = sorted(STEP_64)
WEBP_Q = (0, 5, 10, 20, 40, 70, 90)
JPEG_Q = (5, 10, 20, 40, 70, 90)
CLASSES = ("circle", "square", "triangle", "ring", "cross", "star", "stripes", "diagonal stripes")


# -- data ---------------------------------------------------------------------------------
def held_out_images(quick: bool) -> list[Image.Image]:
    files = train_omni.image_files(held=True) + sorted(KODAK.glob("kodim*.png"))
    if quick:
        files = files[:4] + files[-4:]
    return [Image.open(f).convert("RGB") for f in files]


def augmented(im: Image.Image, rng: random.Random) -> Image.Image:
    w, h = im.size
    cw, ch = train_omni.crop_size(w, h, rng, 0.3)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    v = im.crop((x, y, x + cw, y + ch))
    if rng.random() < 0.5:
        v = v.transpose(Image.FLIP_LEFT_RIGHT)
    for enh in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        v = enh(v).enhance(rng.uniform(0.6, 1.4))
    return v


def draw_shape(bg: Image.Image, label: int, rng: random.Random) -> Image.Image:
    im = bg.copy()
    d = ImageDraw.Draw(im)
    S = im.width
    r = rng.uniform(0.18, 0.32) * S
    cx, cy = rng.uniform(r, S - r), rng.uniform(r, S - r)
    rot = rng.uniform(0, 2 * math.pi)
    col = tuple(rng.randrange(256) for _ in range(3))

    def poly(n, radii):
        return [(cx + radii[i % len(radii)] * math.cos(rot + 2 * math.pi * i / n),
                 cy + radii[i % len(radii)] * math.sin(rot + 2 * math.pi * i / n)) for i in range(n)]

    name = CLASSES[label]
    if name == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
    elif name == "square":
        d.polygon(poly(4, [r]), fill=col)
    elif name == "triangle":
        d.polygon(poly(3, [r]), fill=col)
    elif name == "ring":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=col, width=max(4, int(r * 0.3)))
    elif name == "cross":
        t = r * 0.3
        for ang in (rot, rot + math.pi / 2):
            dx, dy, px, py = math.cos(ang) * r, math.sin(ang) * r, -math.sin(ang) * t, math.cos(ang) * t
            d.polygon([(cx - dx - px, cy - dy - py), (cx + dx - px, cy + dy - py),
                       (cx + dx + px, cy + dy + py), (cx - dx + px, cy - dy + py)], fill=col)
    elif name == "star":
        d.polygon(poly(10, [r, r * 0.42]), fill=col)
    else:  # stripe patches: a texture class, horizontal or diagonal bars inside a square
        period = rng.randint(6, 14)
        patch = Image.new("RGB", (int(2 * r), int(2 * r)), tuple(255 - c for c in col))
        pd = ImageDraw.Draw(patch)
        for k in range(-int(4 * r), int(4 * r), period):
            if name == "stripes":
                pd.rectangle((0, k, patch.width, k + period // 2), fill=col)
            else:
                pd.polygon([(k, 0), (k + period // 2, 0), (k + period // 2 + patch.height, patch.height),
                            (k + patch.height, patch.height)], fill=col)
        im.paste(patch, (int(cx - r), int(cy - r)))
    return im


def probe_sets(photos: list[Image.Image], quick: bool) -> tuple[list, list, list, list]:
    """(train images, train labels, test images, test labels): backgrounds from disjoint photos."""
    per = 4 if quick else PER_CLASS
    rng = random.Random(13)
    half = len(photos) // 2
    sets = []
    for part in (photos[:half], photos[half:]):
        ims, labels = [], []
        for label in range(len(CLASSES)):
            for _ in range(per):
                p = part[rng.randrange(len(part))]
                s = min(256, p.width, p.height)
                x, y = rng.randint(0, p.width - s), rng.randint(0, p.height - s)
                bg = p.crop((x, y, x + s, y + s)).resize((256, 256), Image.LANCZOS)
                ims.append(draw_shape(bg, label, rng))
                labels.append(label)
        sets += [ims, np.array(labels)]
    return tuple(sets)


# -- the network on each path -------------------------------------------------------------
@torch.no_grad()
def embed_pixels(im: Image.Image) -> np.ndarray:
    ld = omni.load()
    x = torch.from_numpy(network_input(im))[None]
    return ld.model.embed(ld.model.analysis(x))[0].numpy()


def code(path: str, rate: int, im: Image.Image) -> tuple[int, np.ndarray]:
    """(payload bytes, embedding) of one image on one path at one rate."""
    if path == "omni":
        cid, data = aigif_codecs.encode(im, f"omni:{rate}")
        return len(data), omni.embed(aigif_codecs.features(cid, data, max_pixels=1 << 28))
    name, _, at = path.partition("@")
    work = working_size(*im.size)
    if at:  # code at the network's input size (256) or half of it (128), upscaled back before the network
        scale = int(at) / 256
        src = im.resize((max(1, round(work[0] * scale)), max(1, round(work[1] * scale))), Image.LANCZOS)
    else:
        src = im
    cid, data = aigif_codecs.encode(src, f"{name}:{rate}")
    decoded = aigif_codecs.decode(cid, data, max_pixels=1 << 28)
    if at and decoded.size != work:
        decoded = decoded.resize(work, Image.LANCZOS)
    return len(data), embed_pixels(decoded)


def run_point(path: str, rate: int | None, gallery, queries, train_views, shapes) -> dict:
    t0 = time.process_time()
    bits, px = [], []

    def emb(ims):
        out = []
        for im in ims:
            if rate is None:
                out.append(embed_pixels(im))
                continue
            n, e = code(path, rate, im)
            bits.append(8 * n)
            px.append(im.width * im.height)
            out.append(e)
        return np.stack(out)

    g, q = emb(gallery), emb([v for v, _ in queries])
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    q_labels = np.array([i for _, i in queries])
    top1 = float(np.mean(np.argmax(qn @ gn.T, axis=1) == q_labels))
    ret_bpp = float(np.mean(np.array(bits) / np.array(px))) if bits else None
    # probe: a linear classifier of photo identity, fit on the coded originals and other views
    t = emb([v for v, _ in train_views])
    x_train = np.vstack([g, t])
    y_train = np.concatenate([np.arange(len(gallery)), [i for _, i in train_views]])
    probe_acc = ridge_accuracy(x_train, y_train, q, q_labels, len(gallery))
    probe_bpp = float(np.mean(np.array(bits) / np.array(px))) if bits else None
    rec = {"path": path, "rate": rate, "retrieval_top1": top1, "retrieval_bpp": ret_bpp,
           "probe_acc": probe_acc, "probe_bpp": probe_bpp}
    if shapes is not None:  # uncoded only: the shape probe this backbone does not solve (see report)
        tr_x, tr_y, te_x, te_y = shapes
        rec["shapes_probe_acc"] = ridge_accuracy(emb(tr_x), tr_y, emb(te_x), te_y, len(CLASSES))
    rec["cpu_s"] = round(time.process_time() - t0, 1)
    return rec


def ridge_accuracy(xtr, ytr, xte, yte, n_classes: int) -> float:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    a, b = np.hstack([a, np.ones((len(a), 1))]), np.hstack([b, np.ones((len(b), 1))])
    y = np.eye(n_classes)[ytr]
    w = np.linalg.solve(a.T @ a + RIDGE_ALPHA * np.eye(a.shape[1]), a.T @ y)
    return float(np.mean(np.argmax(b @ w, axis=1) == yte))


# -- BD over accuracy ---------------------------------------------------------------------
def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, best = [], -1.0
    for r, acc in sorted(points):
        if acc > best:
            out.append((r, acc))
            best = acc
    return out


def bd_rate_accuracy(anchor, test, min_overlap: float = 0.02) -> tuple[float | None, tuple[float, float] | None]:
    """(BD-rate %, accuracy range) of test vs anchor; points (bpp, accuracy in 0..1)."""
    from scipy.interpolate import PchipInterpolator

    def curve(points):
        p = pareto(points)
        if len(p) < 2:
            return None
        return PchipInterpolator([a for _, a in p], [math.log(r) for r, _ in p]), p[0][1], p[-1][1]

    ca, ct = curve(anchor), curve(test)
    if ca is None or ct is None:
        return None, None
    lo, hi = max(ca[1], ct[1]), min(ca[2], ct[2])
    if hi - lo < min_overlap:
        return None, (lo, hi)
    grid = np.linspace(lo, hi, 1001)
    diff = np.trapezoid(ct[0](grid) - ca[0](grid), grid) / (hi - lo)
    return float((math.exp(diff) - 1) * 100), (lo, hi)


def rate_at(points, acc: float) -> tuple[float | None, bool]:
    """(bpp at which a curve first reaches acc, log-linear between its Pareto points; whether
    that is only an upper bound: the curve's cheapest point already reaches acc)."""
    p = pareto(points)
    if not p or acc > p[-1][1]:
        return None, False
    if acc <= p[0][1]:
        return p[0][0], True
    for (r0, a0), (r1, a1) in zip(p, p[1:]):
        if a0 < acc <= a1:
            t = (acc - a0) / (a1 - a0)
            return math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0))), False
    return None, False


def equal_accuracy_ratio(anchor, test) -> tuple[float | None, float, str]:
    """omni's bits / the anchor's bits at the highest accuracy both reach, and how sure it is."""
    a_star = min(max(a for _, a in anchor), max(a for _, a in test))
    rt, t_bound = rate_at(test, a_star)
    ra, a_bound = rate_at(anchor, a_star)
    if rt is None or ra is None:
        return None, a_star, ""
    note = "at most" if t_bound and not a_bound else ("bounds only" if a_bound else "")
    return rt / ra, a_star, note


# -- the run ------------------------------------------------------------------------------
def points_plan() -> list[tuple[str, int | None]]:
    plan = [("pixels", None)]
    plan += [("omni", q) for q in OMNI_Q]
    for path, qs in (("webp", WEBP_Q), ("webp@256", WEBP_Q), ("webp@128", WEBP_Q), ("jpeg", JPEG_Q), ("jpeg@256", JPEG_Q),
                     ("webp@64", WEBP_Q), ("webp@32", WEBP_Q)):
        plan += [(path, q) for q in qs]
    return plan


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cache = args.cache.with_suffix(".quick.json") if args.quick else args.cache
    done = json.loads(cache.read_text()) if cache.exists() else {"weights": omni.WEIGHTS_SHA256, "points": []}
    if done.get("weights") != omni.WEIGHTS_SHA256:
        done = {"weights": omni.WEIGHTS_SHA256, "points": []}
    if not args.report_only:
        photos = held_out_images(args.quick)
        rng = random.Random(7)
        queries = [(augmented(im, rng), i) for i, im in enumerate(photos) for _ in range(QUERIES)]
        train_views = [(augmented(im, rng), i) for i, im in enumerate(photos) for _ in range(TRAIN_VIEWS)]
        shapes = probe_sets(photos, args.quick)
        done["images"] = {"gallery": len(photos), "queries": len(queries), "probe_train": len(photos) + len(train_views),
                          "probe_test": len(queries), "shapes_train": len(shapes[0]), "shapes_test": len(shapes[2])}
        have = {(p["path"], p["rate"]) for p in done["points"]}
        for path, rate in points_plan():
            if (path, rate) in have:
                continue
            rec = run_point(path, rate, photos, queries, train_views, shapes if rate is None else None)
            print(json.dumps(rec), flush=True)
            done["points"].append(rec)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(done, indent=1))
            os.replace(tmp, cache)
    if not args.quick:
        OUT.write_text(report(done))
        plot(done, OUT.with_name("omni-accuracy.png"))
        print(f"wrote {OUT} and {OUT.with_name('omni-accuracy.png')}")
    else:
        print(report(done))
        plot(done, Path("/tmp/omni-accuracy-quick.png"))
    return 0


def report(done: dict) -> str:
    pts = done["points"]
    by = {}
    for p in pts:
        by.setdefault(p["path"], []).append(p)
    ref = by.get("pixels", [{}])[0]
    train_info = json.loads(_weights_meta().get("train", "{}"))
    lines = ["# Omni-ICM (codec 18): task accuracy against bits per pixel", "",
             "Generated by `bench/omni_icm.py` (its docstring has the protocol). Weights "
             f"`omni-1.safetensors` sha256 `{done['weights'][:16]}...`, trained by `tools/train_omni.py` "
             f"for {train_info.get('steps')} steps, {train_info.get('cpu_s')} s CPU ({train_info.get('wall_s')} s wall) "
             "on one thread.", "",
             f"Images: {done.get('images')}. Held-out photos: the train-images split the codec never trained on "
             "plus Kodak-24. bpp = payload bits / original pixels.", "",
             f"Uncoded pixels through the same network: retrieval top-1 {ref.get('retrieval_top1', float('nan')):.3f}, "
             f"probe accuracy {ref.get('probe_acc', float('nan')):.3f}.", "",
             f"Noise: an accuracy over {done['images']['queries']} queries has a standard error of about "
             f"{math.sqrt(0.65 * 0.35 / max(1, done['images']['queries'])):.3f}, so differences of a few points between "
             "rate points (and the BD figures built on them) are within noise; the gaps in bits (factors of 2 to 60) "
             "are not.", "",
             "| path:rate | retrieval bpp | retrieval top-1 | probe bpp | probe acc | CPU s |",
             "|---|---:|---:|---:|---:|---:|"]
    for path, rows in by.items():
        if path == "pixels":
            continue
        for p in sorted(rows, key=lambda r: r["retrieval_bpp"]):
            lines.append(f"| {path}:{p['rate']} | {p['retrieval_bpp']:.4f} | {p['retrieval_top1']:.3f} | "
                         f"{p['probe_bpp']:.4f} | {p['probe_acc']:.3f} | {p['cpu_s']} |")
    lines += ["", "BD-rate of omni against each pixel path (accuracy-rate; negative = omni needs fewer bits at equal "
              "accuracy; the acceptance is <= -30 % against WebP on both tasks):", "",
              "| anchor | retrieval BD-rate | accuracy range | probe BD-rate | accuracy range |", "|---|---:|---|---:|---|"]
    omni_pts = by.get("omni", [])
    by["webp (best size)"] = [p for k in ("webp", "webp@256", "webp@128", "webp@64", "webp@32") for p in by.get(k, [])]
    for anchor in ("webp", "webp@256", "webp@128", "webp@64", "webp@32", "webp (best size)", "jpeg", "jpeg@256"):
        if not by.get(anchor):
            continue
        cells = []
        for task, rk, ak in (("retrieval", "retrieval_bpp", "retrieval_top1"), ("probe", "probe_bpp", "probe_acc")):
            bd, rng = bd_rate_accuracy([(p[rk], p[ak]) for p in by[anchor]], [(p[rk], p[ak]) for p in omni_pts])
            cells.append("no overlap" if bd is None else f"{bd:+.1f} %")
            cells.append("-" if rng is None else f"{rng[0]:.3f}..{rng[1]:.3f}")
        lines.append(f"| {anchor} | " + " | ".join(cells) + " |")
    lines += ["", "omni's bits as a fraction of each anchor's at the highest accuracy both reach (log-linear "
              "interpolation on Pareto points; \"at most\": omni's cheapest point already reaches that accuracy, so "
              "its true cost there is lower still). The acceptance is <= 70 % against WebP on both tasks:", "",
              "| anchor | retrieval: accuracy, omni/anchor bits | probe: accuracy, omni/anchor bits |", "|---|---|---|"]
    for anchor in ("webp", "webp@256", "webp@128", "webp@64", "webp@32", "webp (best size)", "jpeg", "jpeg@256"):
        if not by.get(anchor):
            continue
        cells = []
        for rk, ak in (("retrieval_bpp", "retrieval_top1"), ("probe_bpp", "probe_acc")):
            ratio, a_star, note = equal_accuracy_ratio([(p[rk], p[ak]) for p in by[anchor]], [(p[rk], p[ak]) for p in omni_pts])
            cells.append("-" if ratio is None else f"{a_star:.3f}: {note + ' ' if note else ''}{100 * ratio:.1f} %")
        lines.append(f"| {anchor} | " + " | ".join(cells) + " |")
    if "shapes_probe_acc" in ref:
        lines += ["", f"Shape probe (8 procedural classes on held-out photo crops, {done['images'].get('shapes_train')} "
                  f"train / {done['images'].get('shapes_test')} test images, uncoded pixels through the network): "
                  f"{ref['shapes_probe_acc']:.3f} (chance 0.125). This CPU-trained backbone does not separate the "
                  "shapes linearly, so that probe cannot rank codecs and is not swept over rates; the probe above is "
                  "photo identity instead (see the docstring)."]
    return "\n".join(lines) + "\n"


def plot(done: dict, path: Path) -> None:
    """Accuracy against log bpp, one panel per task (Pillow only)."""
    by = {}
    for p in done["points"]:
        if p["path"] != "pixels":
            by.setdefault(p["path"], []).append(p)
    colours = {"omni": (214, 39, 40), "webp": (31, 119, 180), "webp@256": (23, 190, 207), "webp@128": (44, 160, 44),
               "webp@64": (148, 103, 189), "webp@32": (140, 86, 75),
               "jpeg": (127, 127, 127), "jpeg@256": (188, 189, 34)}
    PW, H, L, R, T, B = 520, 420, 60, 15, 40, 50
    im = Image.new("RGB", (2 * PW, H), "white")
    d = ImageDraw.Draw(im)
    lo, hi = math.log10(0.001), math.log10(3.0)
    for panel, (title, rk, ak) in enumerate((("retrieval of augmented views (top-1)", "retrieval_bpp", "retrieval_top1"),
                                              ("linear probe, photo identity", "probe_bpp", "probe_acc"))):
        x0 = panel * PW

        def xy(b, a):
            return (x0 + L + (PW - L - R) * (math.log10(b) - lo) / (hi - lo), T + (H - T - B) * (1 - a))

        d.rectangle([x0 + L, T, x0 + PW - R, H - B], outline="black")
        for b in (0.001, 0.01, 0.1, 1.0):
            x, _ = xy(b, 0)
            d.line([x, T, x, H - B], fill=(230, 230, 230))
            d.text((x - 12, H - B + 6), f"{b:g}", fill="black")
        for a in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
            _, y = xy(1, a)
            d.line([x0 + L, y, x0 + PW - R, y], fill=(230, 230, 230))
            d.text((x0 + L - 30, y - 6), f"{a:.1f}", fill="black")
        d.text((x0 + L + 40, 12), title, fill="black")
        d.text((x0 + PW // 2 - 40, H - 22), "bits per pixel (log)", fill="black")
        for k, (name, pts) in enumerate(sorted(by.items())):
            c = colours.get(name, (0, 0, 0))
            pts = sorted((p[rk], p[ak]) for p in pts if p[rk] and p[rk] > 0)
            if len(pts) > 1:
                d.line([xy(b, a) for b, a in pts], fill=c, width=2)
            for b, a in pts:
                x, y = xy(b, a)
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=c)
            d.line([x0 + L + 10, T + 12 + 15 * k, x0 + L + 35, T + 12 + 15 * k], fill=c, width=3)
            d.text((x0 + L + 40, T + 6 + 15 * k), name, fill="black")
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    os.replace(tmp, path)


def _weights_meta() -> dict:
    from safetensors import safe_open

    with safe_open(str(omni.weights_path()), framework="pt") as f:
        return f.metadata()


if __name__ == "__main__":
    raise SystemExit(main())
