"""Omni-ICM (codec 18) on machine tasks it never trained on: accuracy against bits per pixel,
beside WebP and JPEG pixels passed through the same backbone.  Writes bench/RESULTS-omni.md
and bench/omni-accuracy.png.

Images: the held-out split of /work/shared/data/train-images (tools/train_omni.py
held_out(): sha256 starting 0 or 1; the codec never trained on it) plus Kodak-24 (never
trained on): 96 photos.

Task (a), retrieval of augmented views: gallery = every photo, query = QUERIES random
views of each (resized crop of 30-100 % of the area, flip, brightness/contrast/saturation
0.6-1.4, seeded) at the original resolution.  Gallery and queries are both coded at the
rate point; top-1 = the nearest gallery embedding (cosine) is the query's own photo.

Task (b), linear probe of orientation (semantic labels built here, after Gidaris et al.,
ICLR 2018): each photo's centre square (so the aspect ratio tells nothing), rotated by 0,
90, 180 or 270 degrees; the label is the rotation.  Telling which way is up needs the
scene's layout (sky, ground, light from above, people standing); the codec's training
augmentations (crops, horizontal flips, colour jitter, grey) contain no rotation, so its
features are not made rotation-invariant, nor trained to see it.  The probe is a ridge
classifier (one-hot targets, standardised features, alpha ROT_ALPHA) on the task head's
output pooled over a 2 x 2 grid of the feature map (512 values; global pooling, which
retrieval uses, throws away where things are: 0.40 on uncoded pixels against 0.49-0.52
in the exploration).  Items: each photo's centre square plus ROT_VIEWS views (a random
square crop of 60-100 % of the side, resized back, maybe mirrored, jitter 0.7-1.3), each
in all four rotations.  Cross-validated by photo: the photos fall into ROT_FOLDS folds,
and each fold's items are scored by a probe fit on the other folds' items only, so no
photo is both fitted and scored.  Every item is coded at the rate point.  Reported: 4-way accuracy (chance 0.25)
and, from the same features, 2-way "upright or upside down" (0 vs 180 degrees, a ridge
of its own; chance 0.5), each with its standard error over photos (the 4 rotations of a
photo are not independent, so the error is the spread of per-photo accuracies / sqrt(96)).
The BD-rates against the best-size WebP also get a 90 % interval from a paired bootstrap
over photos (the same resampled photos for every rate point; bits held fixed).
Reference (uncoded pixels only): the same probe on an 8 x 8 RGB thumbnail, what the
coarse colour layout alone gives.  The pooling, alpha and view count were chosen on
uncoded pixels only (never on a codec's curve); fitting on the codec's own training
photos instead (the ImageNet linear-probe protocol: 538 photos x 4 rotations) gave the
same ceiling (0.51-0.52 for the 2 x 2 grid, 0.40 for global pooling).

The earlier probes, photo identity (essentially retrieval again) and 8 drawn shape
classes (0.19 against chance 0.125 on uncoded pixels: unable to rank codecs), are no
longer run; their figures are in git history (bench/RESULTS-omni.md at 7cfc817).

Every path ends in the same network: pixels -> preprocess (downscale to at most 256) ->
backbone -> filter -> head (omni: the decoded integers * step -> head; pixels: the
unquantised features -> head).  omni runs at every omni:Q (every stride-16 location coded,
bitstream version 1) and every omni:Q/G (the features averaged over a G x G grid, version
2); the omni curve of the BD tables is the Pareto front over all of them.  Pixel codecs are the product's own (aigif_codecs.encode,
Pillow WebP/JPEG); "@256" rows code the image downscaled to the network's input size
first (what a pixel system built for this backbone would store), "@128" ... "@8" rows
code it at 1/2 ... 1/32 of that size and upscale the decoded pixels to it (Lanczos)
before the network (the pixel path's lowest rates; @16 and @8 are thumbnails, added
because orientation needs little more than the coarse layout), the plain rows code the
original.  "webp (best size)" is the Pareto front over every WebP size: the strongest
WebP anchor.  bpp is payload bits over the scored images' own pixels (retrieval: gallery
and queries; orientation: every square), for every row.

BD (accuracy-rate): log-rate over accuracy by PCHIP on each curve's Pareto points (a
point whose accuracy no cheaper point reaches), averaged over the overlapping accuracy
range; negative = fewer bits than the anchor at equal accuracy.

  nice -n 19 python bench/omni_icm.py                       # full run (cache /tmp/omni-bench-v2.json)
  nice -n 19 python bench/omni_icm.py --shard 0/2 &         # or split the rate points
  nice -n 19 python bench/omni_icm.py --shard 1/2           #   over two processes,
  python bench/omni_icm.py --report-only                    #   then merge the caches
  nice -n 19 python bench/omni_icm.py --quick               # a few photos, to check the script
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
from torch.nn import functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import train_omni  # noqa: E402  (the held-out split and the source-tree import of aigif_codecs)

import aigif_codecs  # noqa: E402
from aigif_codecs.omni import GRID_MAX, STEP_64  # noqa: E402
from aigif_codecs.omni import codec as omni  # noqa: E402
from aigif_codecs.omni.preprocess import working_size  # noqa: E402

KODAK = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data")) / "kodak"
CACHE = Path("/tmp/omni-bench-v2.json")
OUT = REPO / "bench" / "RESULTS-omni.md"
QUERIES = 2
# extra views of each photo (each in all four rotations): 2, 4 or 8 gained < 0.03 on uncoded pixels
# in the exploration and would double to triple the run's CPU
ROT_VIEWS = 0
ROT_FOLDS = 4
ROT_ALPHA = 1000.0
ROT_GRID = 2  # the head's output pooled over ROT_GRID x ROT_GRID cells
PROTOCOL = [2, ROT_VIEWS, ROT_FOLDS, ROT_ALPHA, ROT_GRID]  # cache entries of another protocol are not mixed in
ROTATIONS = (None, Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270)
OMNI_Q = sorted(STEP_64)
OMNI_GRIDS = tuple(f"omni/{g}" for g in range(1, GRID_MAX + 1))  # bitstream version 2: omni:Q/G
OMNI_ALL = "omni (any grid)"  # the codec's curve: the Pareto front over every omni:Q and omni:Q/G
WEBP_Q = (0, 5, 10, 20, 40, 70, 90)
JPEG_Q = (5, 10, 20, 40, 70, 90)
# (key, title, bpp key, accuracy key, standard-error key)
TASKS = (("retrieval", "retrieval top-1", "retrieval_bpp", "retrieval_top1", None),
         ("rotation", "orientation, 4-way", "rotation_bpp", "rotation_acc", "rotation_se"),
         ("upright", "upright vs upside down", "upright_bpp", "upright_acc", "upright_se"))
WEBP_SIZES = ("webp", "webp@256", "webp@128", "webp@64", "webp@32", "webp@16", "webp@8")
ANCHORS = WEBP_SIZES + ("webp (best size)", "jpeg", "jpeg@256")


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


def centre_square(im: Image.Image) -> Image.Image:
    s = min(im.size)
    x, y = (im.width - s) // 2, (im.height - s) // 2
    return im.crop((x, y, x + s, y + s))


def square_view(im: Image.Image, rng: random.Random) -> Image.Image:
    """A fit view for the orientation probe: a random square crop (60-100 % of the shorter
    side) resized to the centre square's size, maybe mirrored left-right (which keeps "up"),
    colour jitter 0.7-1.3."""
    s = min(im.size)
    c = max(1, int(s * rng.uniform(0.6, 1.0)))
    x, y = rng.randint(0, im.width - c), rng.randint(0, im.height - c)
    v = im.crop((x, y, x + c, y + c)).resize((s, s), Image.LANCZOS)
    if rng.random() < 0.5:
        v = v.transpose(Image.FLIP_LEFT_RIGHT)
    for enh in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        v = enh(v).enhance(rng.uniform(0.7, 1.3))
    return v


def rotation_set(photos: list[Image.Image]) -> list[tuple[Image.Image, int, int]]:
    """(image, rotation label, photo index): each photo's centre square and ROT_VIEWS views,
    each in all four rotations."""
    rng = random.Random(90)
    items = []
    for i, im in enumerate(photos):
        for v in [centre_square(im)] + [square_view(im, rng) for _ in range(ROT_VIEWS)]:
            items += [(v if t is None else v.transpose(t), label, i) for label, t in enumerate(ROTATIONS)]
    return items


# -- the network on each path -------------------------------------------------------------
@torch.no_grad()
def head_outputs(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(global embedding, grid-pooled head output) of features (C, rows, cols): the task head
    (codec.embed) before its global average pooling, pooled both ways."""
    head = omni.load().model.head
    hmap = head.b(F.gelu(head.a(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None])))
    return hmap.mean(dim=(2, 3))[0].numpy(), F.adaptive_avg_pool2d(hmap, ROT_GRID)[0].flatten().numpy()


def code(path: str, rate: int | None, im: Image.Image) -> tuple[int, np.ndarray]:
    """(payload bytes, features the head reads) of one image on one path at one rate
    (rate None: the uncoded pixels)."""
    if path.startswith("omni"):  # "omni" (every location) or "omni/G" (pooled to a G x G grid)
        cid, data = aigif_codecs.encode(im, f"omni:{rate}{path[4:]}")
        return len(data), aigif_codecs.features(cid, data, max_pixels=1 << 28).values()
    if rate is None:
        return 0, omni.analyse(im)
    name, _, at = path.partition("@")
    work = working_size(*im.size)
    if at:  # code at the network's input size (256) or a fraction of it, upscaled back before the network
        scale = int(at) / 256
        src = im.resize((max(1, round(work[0] * scale)), max(1, round(work[1] * scale))), Image.LANCZOS)
    else:
        src = im
    cid, data = aigif_codecs.encode(src, f"{name}:{rate}")
    decoded = aigif_codecs.decode(cid, data, max_pixels=1 << 28)
    if at and decoded.size != work:
        decoded = decoded.resize(work, Image.LANCZOS)
    return len(data), omni.analyse(decoded)


def ridge_fit_predict(xtr, ytr, xte, n_classes: int, alpha: float) -> np.ndarray:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    a, b = np.hstack([a, np.ones((len(a), 1))]), np.hstack([b, np.ones((len(b), 1))])
    y = np.eye(n_classes)[ytr]
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ y)
    return np.argmax(b @ w, axis=1)


def rotation_probe(x, y, g, classes=(0, 1, 2, 3)) -> tuple[float, float, list[float]]:
    """(accuracy, standard error over photos, per-photo accuracies) of the ridge probe
    restricted to the rotation labels in classes (relabelled 0..k-1), cross-validated by
    photo: each fold's items are scored by a fit on the other folds' photos only."""
    classes = list(classes)
    keep = np.isin(y, classes)
    x, y, g = x[keep], np.searchsorted(classes, y[keep]), g[keep]
    correct = np.zeros(len(y), bool)
    for fold in range(ROT_FOLDS):
        score = g % ROT_FOLDS == fold
        if score.any():
            correct[score] = ridge_fit_predict(x[~score], y[~score], x[score], len(classes), ROT_ALPHA) == y[score]
    per_photo = [float(correct[g == i].mean()) for i in np.unique(g)]
    return float(correct.mean()), float(np.std(per_photo, ddof=1) / math.sqrt(len(per_photo))), per_photo


def run_point(path: str, rate: int | None, gallery, queries, rot_items) -> dict:
    t0 = time.process_time()

    def run(ims):
        """(bits, pixels, global embeddings, grid features) of a list of images."""
        bits, px, glob, grid = [], [], [], []
        for im in ims:
            n, y = code(path, rate, im)
            g, d = head_outputs(y)
            bits.append(8 * n)
            px.append(im.width * im.height)
            glob.append(g)
            grid.append(d)
        return np.array(bits, float), np.array(px, float), np.stack(glob), np.stack(grid)

    rb, rp, g, _ = run(gallery)
    qb, qp, q, _ = run([v for v, _ in queries])
    gn = g / np.linalg.norm(g, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    q_labels = np.array([i for _, i in queries])
    hit = np.argmax(qn @ gn.T, axis=1) == q_labels
    rec = {"path": path, "rate": rate, "retrieval_top1": float(hit.mean()),
           "retrieval_bpp": float(np.mean(np.concatenate([rb / rp, qb / qp]))) if rate is not None else None,
           "retrieval_photos": [float(hit[q_labels == i].mean()) for i in range(len(gallery))]}
    sb, sp, _, sx = run([im for im, _, _ in rot_items])
    sy, sg = np.array([lab for _, lab, _ in rot_items]), np.array([i for _, _, i in rot_items])
    rec["rotation_acc"], rec["rotation_se"], rec["rotation_photos"] = rotation_probe(sx, sy, sg)
    rec["upright_acc"], rec["upright_se"], rec["upright_photos"] = rotation_probe(sx, sy, sg, classes=(0, 2))
    upright = np.isin(sy, (0, 2))
    rec["rotation_bpp"] = float(np.mean(sb / sp)) if rate is not None else None
    rec["upright_bpp"] = float(np.mean(sb[upright] / sp[upright])) if rate is not None else None
    if rate is None:  # reference: the same probe on the coarse colour layout alone
        tx = np.stack([np.asarray(im.resize((8, 8), Image.BOX), np.float32).ravel() for im, _, _ in rot_items])
        rec["thumb_rotation_acc"], rec["thumb_rotation_se"], _ = rotation_probe(tx, sy, sg)
        rec["thumb_upright_acc"], rec["thumb_upright_se"], _ = rotation_probe(tx, sy, sg, classes=(0, 2))
    rec["cpu_s"] = round(time.process_time() - t0, 1)
    return rec


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
    plan += [(path, q) for path in ("omni",) + OMNI_GRIDS for q in OMNI_Q]
    # the WebP sizes that bound omni's bits first, JPEG last: a run cut short still has the WebP envelope
    for path, qs in (("webp@64", WEBP_Q), ("webp@128", WEBP_Q), ("webp@32", WEBP_Q), ("webp@256", WEBP_Q), ("webp", WEBP_Q),
                     ("jpeg", JPEG_Q), ("jpeg@256", JPEG_Q),
                     # thumbnails: orientation needs little more than the coarse colour layout (see the report)
                     ("webp@16", (0, 20, 90)), ("webp@8", (0, 90))):
        plan += [(path, q) for q in qs]
    return plan


def load_caches(cache: Path) -> dict:
    """Every cache file of this run (the main one and any --shard ones), merged."""
    done = {"weights": omni.WEIGHTS_SHA256, "protocol": PROTOCOL, "points": []}
    seen = set()
    for f in sorted(cache.parent.glob(cache.name + "*")):
        if f.suffix == ".tmp" or not f.is_file():
            continue
        d = json.loads(f.read_text())
        if d.get("weights") != omni.WEIGHTS_SHA256 or d.get("protocol") != PROTOCOL:
            continue
        done.setdefault("images", d.get("images"))
        for p in d["points"]:
            if (p["path"], p["rate"]) not in seen:
                seen.add((p["path"], p["rate"]))
                done["points"].append(p)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--shard", default="0/1", help="I/N: run every N-th rate point starting at I (own cache file)")
    ap.add_argument("--only", default="", help="comma-separated paths: run only these (e.g. webp@16,webp@8)")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    base = args.cache.with_name(args.cache.stem + ".quick.json") if args.quick else args.cache
    shard, n_shards = (int(v) for v in args.shard.split("/"))
    own = base if n_shards == 1 else base.with_name(f"{base.name}.shard{shard}of{n_shards}")
    done = load_caches(base)
    if not args.report_only:
        photos = held_out_images(args.quick)
        rng = random.Random(7)
        queries = [(augmented(im, rng), i) for i, im in enumerate(photos) for _ in range(QUERIES)]
        rot_items = rotation_set(photos)
        images = {"photos": len(photos), "queries": len(queries), "rotation_items": len(rot_items)}
        mine = json.loads(own.read_text()) if own.exists() else {}
        if mine.get("weights") != omni.WEIGHTS_SHA256 or mine.get("protocol") != PROTOCOL:
            mine = {"weights": omni.WEIGHTS_SHA256, "protocol": PROTOCOL, "points": []}
        mine["images"] = done["images"] = images
        have = {(p["path"], p["rate"]) for p in done["points"]}
        for k, (path, rate) in enumerate(points_plan()):
            if k % n_shards != shard or (path, rate) in have or (args.only and path not in args.only.split(",")):
                continue
            rec = run_point(path, rate, photos, queries, rot_items)
            print(json.dumps(rec), flush=True)
            mine["points"].append(rec)
            done["points"].append(rec)
            tmp = own.with_name(own.name + ".tmp")
            tmp.write_text(json.dumps(mine, indent=1))
            os.replace(tmp, own)
        if n_shards > 1:
            return 0  # the report waits for every shard: --report-only
    if not args.quick:
        OUT.write_text(report(done))
        plot(done, OUT.with_name("omni-accuracy.png"))
        print(f"wrote {OUT} and {OUT.with_name('omni-accuracy.png')}")
    else:
        print(report(done))
        plot(done, Path("/tmp/omni-accuracy-quick.png"))
    return 0


def label(path: str, rate) -> str:
    """'omni/2', 5 -> 'omni:5/2' (the codec's own spec string); other paths 'path:rate'."""
    if path.startswith("omni/"):
        return f"omni:{rate}/{path[5:]}"
    return f"{path}:{rate}"


def _curves(by: dict, rk: str, ak: str, anchor: str):
    return [(p[rk], p[ak]) for p in by[anchor]], [(p[rk], p[ak]) for p in by.get(OMNI_ALL, [])]


BOOTSTRAP = 500


def bd_interval(anchor_pts: list[dict], omni_pts: list[dict], rk: str, ak: str) -> tuple[float, float, float] | None:
    """(5th, 95th percentile of the BD-rate, fraction of resamples with an overlap) under a
    paired bootstrap over photos: every point's accuracy recomputed on the same resample
    (each photo has the same number of items, so the mean of per-photo accuracies is the
    accuracy); bits held fixed."""
    key = ak.rsplit("_", 1)[0] + "_photos"
    if not all(key in p for p in anchor_pts + omni_pts):
        return None
    rng = np.random.default_rng(13)
    a_acc = np.array([p[key] for p in anchor_pts])  # (points, photos)
    o_acc = np.array([p[key] for p in omni_pts])
    n, out = a_acc.shape[1], []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, n, n)
        bd, _ = bd_rate_accuracy([(p[rk], a) for p, a in zip(anchor_pts, a_acc[:, pick].mean(1))],
                                 [(p[rk], a) for p, a in zip(omni_pts, o_acc[:, pick].mean(1))])
        if bd is not None:
            out.append(bd)
    if not out:
        return None
    return float(np.percentile(out, 5)), float(np.percentile(out, 95)), len(out) / BOOTSTRAP


def report(done: dict) -> str:
    pts = done["points"]
    by = {}
    for p in pts:
        by.setdefault(p["path"], []).append(p)
    ref = by.get("pixels", [{}])[0]
    nan = float("nan")
    train_info = json.loads(_weights_meta().get("train", "{}"))
    im = done.get("images") or {}
    lines = ["# Omni-ICM (codec 18): task accuracy against bits per pixel", "",
             "Generated by `bench/omni_icm.py` (its docstring has the protocol). Weights "
             f"`omni-1.safetensors` sha256 `{done['weights'][:16]}...`, trained by `tools/train_omni.py` "
             f"for {train_info.get('steps')} steps, {train_info.get('cpu_s')} s CPU ({train_info.get('wall_s')} s wall) "
             "on one thread.", "",
             f"Images: {im.get('photos')} held-out photos (the train-images split the codec never trained on, plus "
             f"Kodak-24); retrieval: {im.get('photos')} gallery + {im.get('queries')} queries; orientation: "
             f"{im.get('rotation_items')} squares (each photo's centre square"
             f"{f' and {ROT_VIEWS} views' if ROT_VIEWS else ''} in 4 rotations), {ROT_FOLDS}-fold by photo: each fold scored by a probe fit on the other folds' photos only. "
             "bpp = payload bits / the scored images' pixels.", "",
             "Uncoded pixels through the same network: retrieval top-1 "
             f"{ref.get('retrieval_top1', nan):.3f}; orientation 4-way {ref.get('rotation_acc', nan):.3f} "
             f"± {ref.get('rotation_se', nan):.3f} (chance 0.25); upright vs upside down {ref.get('upright_acc', nan):.3f} "
             f"± {ref.get('upright_se', nan):.3f} (chance 0.5). The same probe on an 8 x 8 RGB thumbnail (coarse colour "
             f"layout only): {ref.get('thumb_rotation_acc', nan):.3f} ± {ref.get('thumb_rotation_se', nan):.3f} and "
             f"{ref.get('thumb_upright_acc', nan):.3f} ± {ref.get('thumb_upright_se', nan):.3f}.", "",
             f"Noise: retrieval top-1 over {im.get('queries')} queries has a standard error of about "
             f"{math.sqrt(0.65 * 0.35 / max(1, im.get('queries') or 1)):.3f}; the orientation figures carry their own "
             "(± one standard error over photos). Differences of a few points between rate points, and the BD "
             "figures built on them, are within noise; gaps in bits of factors of 2 or more are not.", "",
             "| path:rate | retrieval bpp | retrieval top-1 | orientation bpp | 4-way acc | up/down acc | CPU s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    order = {path: k for k, (path, _) in enumerate(points_plan())}
    for path, rows in sorted(by.items(), key=lambda kv: order.get(kv[0], len(order))):
        if path == "pixels":
            continue
        for p in sorted(rows, key=lambda r: r["retrieval_bpp"]):
            lines.append(f"| {label(path, p['rate'])} | {p['retrieval_bpp']:.4f} | {p['retrieval_top1']:.3f} | "
                         f"{p['rotation_bpp']:.4f} | {p['rotation_acc']:.3f} ± {p['rotation_se']:.3f} | "
                         f"{p['upright_acc']:.3f} ± {p['upright_se']:.3f} | {p['cpu_s']} |")
    by["webp (best size)"] = [p for k in WEBP_SIZES for p in by.get(k, [])]
    by[OMNI_ALL] = [p for k in ("omni",) + OMNI_GRIDS for p in by.get(k, [])]
    anchors = [a for a in ANCHORS if by.get(a)]
    lines += ["", "BD-rate of omni against each pixel path (accuracy-rate; negative = omni needs fewer bits at equal "
              "accuracy; the acceptance is <= -30 % against WebP on both tasks):", "",
              "| anchor | " + " | ".join(f"{t[1]} BD-rate | accuracy range" for t in TASKS) + " |",
              "|---|" + "---:|---|" * len(TASKS)]
    for anchor in anchors:
        cells = []
        for _, _, rk, ak, _ in TASKS:
            bd, rng = bd_rate_accuracy(*_curves(by, rk, ak, anchor))
            cells.append("no overlap" if bd is None else f"{bd:+.1f} %")
            cells.append("-" if rng is None else f"{rng[0]:.3f}..{rng[1]:.3f}")
        lines.append(f"| {anchor} | " + " | ".join(cells) + " |")
    lines += ["", "Cheapest point of each family within one standard error (over photos) of the uncoded ceiling "
              "(a flat curve, where even the cheapest point is there, cannot show a saving):", "",
              "| family | " + " | ".join(t[1] for t in TASKS) + " |", "|---|" + "---|" * len(TASKS)]
    families = {OMNI_ALL: by.get(OMNI_ALL, []), "omni (every location)": by.get("omni", []), "webp (any size)": by["webp (best size)"],
                "jpeg (any size)": by.get("jpeg", []) + by.get("jpeg@256", [])}
    for fam, rows in families.items():
        if not rows:
            continue
        cells = []
        for _, _, rk, ak, _ in TASKS:
            key = ak.rsplit("_", 1)[0] + "_photos"
            ceiling = ref.get(ak)
            if ceiling is None or key not in ref:
                cells.append("-")
                continue
            se = float(np.std(ref[key], ddof=1) / math.sqrt(len(ref[key])))
            near = sorted((p for p in rows if p[ak] >= ceiling - se), key=lambda p: p[rk])
            cells.append("none" if not near else f"{label(near[0]['path'], near[0]['rate'])}, {near[0][rk]:.4f} bpp "
                         f"({near[0][ak]:.3f}; ceiling {ceiling:.3f} ± {se:.3f})")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    best = by["webp (best size)"]
    if best and by.get("omni"):  # what version 1 alone (every location coded) gives, as before the grids
        cells = []
        for _, title, rk, ak, _ in TASKS:
            bd, _ = bd_rate_accuracy([(p[rk], p[ak]) for p in best], [(p[rk], p[ak]) for p in by["omni"]])
            cells.append(f"{title} {'no overlap' if bd is None else f'{bd:+.1f} %'}")
        lines += ["", "omni with every location coded (bitstream version 1 alone) against the best-size WebP: "
                  + "; ".join(cells) + "."]
    if best and by.get(OMNI_ALL):
        lines += ["", f"Paired bootstrap over photos ({BOOTSTRAP} resamples) of the BD-rate against the best-size WebP: "
                  "5th..95th percentile, and how often the resampled curves overlap at all:", "",
                  "| task | BD-rate | 90 % interval | resamples with an overlap |", "|---|---:|---|---:|"]
        for _, title, rk, ak, _ in TASKS:
            bd, _ = bd_rate_accuracy(*_curves(by, rk, ak, "webp (best size)"))
            iv = bd_interval(best, by[OMNI_ALL], rk, ak)
            lines.append(f"| {title} | {'no overlap' if bd is None else f'{bd:+.1f} %'} | "
                         f"{'-' if iv is None else f'{iv[0]:+.1f} .. {iv[1]:+.1f} %'} | "
                         f"{'-' if iv is None else f'{100 * iv[2]:.0f} %'} |")
    lines += ["", "omni's bits as a fraction of each anchor's at the highest accuracy both reach (log-linear "
              "interpolation on Pareto points; \"at most\": omni's cheapest point already reaches that accuracy, so "
              "its true cost there is lower still). The acceptance is <= 70 % against WebP on both tasks:", "",
              "| anchor | " + " | ".join(f"{t[1]}: accuracy, omni/anchor bits" for t in TASKS) + " |",
              "|---|" + "---|" * len(TASKS)]
    for anchor in anchors:
        cells = []
        for _, _, rk, ak, _ in TASKS:
            ratio, a_star, note = equal_accuracy_ratio(*_curves(by, rk, ak, anchor))
            cells.append("-" if ratio is None else f"{a_star:.3f}: {note + ' ' if note else ''}{100 * ratio:.1f} %")
        lines.append(f"| {anchor} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(done: dict, path: Path) -> None:
    """Accuracy against log bpp, one panel per task (Pillow only)."""
    by = {}
    for p in done["points"]:
        if p["path"] != "pixels":
            by.setdefault(p["path"], []).append(p)
    ref = next((p for p in done["points"] if p["path"] == "pixels"), {})
    colours = {"omni": (214, 39, 40), "omni/1": (255, 152, 150), "omni/2": (180, 0, 0), "omni/3": (240, 80, 60),
               "omni/4": (120, 20, 20), "webp": (31, 119, 180), "webp@256": (23, 190, 207), "webp@128": (44, 160, 44),
               "webp@64": (148, 103, 189), "webp@32": (140, 86, 75), "webp@16": (227, 119, 194), "webp@8": (255, 127, 14),
               "jpeg": (127, 127, 127), "jpeg@256": (188, 189, 34)}
    PW, H, L, R, T, B = 520, 420, 60, 15, 40, 50
    im = Image.new("RGB", (len(TASKS) * PW, H), "white")
    d = ImageDraw.Draw(im)
    lo, hi = math.log10(0.0005), math.log10(3.0)
    for panel, (_, title, rk, ak, _) in enumerate(TASKS):
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
        if ak in ref:  # the uncoded ceiling
            _, y = xy(1, ref[ak])
            d.line([x0 + L, y, x0 + PW - R, y], fill=(0, 0, 0), width=1)
            d.text((x0 + PW - R - 70, y - 14), "uncoded", fill="black")
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
            y_key = H - B - 8 - 15 * (len(by) - k)
            d.line([x0 + L + 10, y_key, x0 + L + 35, y_key], fill=c, width=3)
            d.text((x0 + L + 40, y_key - 6), name, fill="black")
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    os.replace(tmp, path)


def _weights_meta() -> dict:
    from safetensors import safe_open

    with safe_open(str(omni.weights_path()), framework="pt") as f:
        return f.metadata()


if __name__ == "__main__":
    raise SystemExit(main())
