"""Rate-distortion benchmark of the fallback codecs on Kodak (and full-size AIGC PNGs).

For every codec and rate point: bpp, PSNR (RGB), MS-SSIM (5-scale, Wang et al. 2003,
the pytorch_msssim/CompressAI convention: 11x11 Gaussian sigma 1.5, per channel,
relu on cs/ssim, 2x2 average pooling), encode and decode wall-clock; BD-rate of each
lossy codec against WebP (Bjontegaard: PCHIP interpolation of log-rate over PSNR, JVET style);
an RD plot drawn with Pillow (matplotlib is not installed here).

Per-image results are appended to a JSONL cache, so an interrupted run resumes.

  nice -n 10 python bench/kodak.py --set kodak --out bench/RESULTS-codecs.md --plot bench/rd-kodak.png
  nice -n 10 python bench/kodak.py --set aigc --report-only   # after both sets ran
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
try:
    import aigif_codecs
except ImportError:
    spec = importlib.util.spec_from_file_location("aigif_codecs", REPO / "codecs" / "__init__.py",
                                                  submodule_search_locations=[str(REPO / "codecs")])
    aigif_codecs = importlib.util.module_from_spec(spec)
    sys.modules["aigif_codecs"] = aigif_codecs
    spec.loader.exec_module(aigif_codecs)

DATA = Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))
CACHE = Path(os.environ.get("AIGIF_BENCH_CACHE", "/work/runs/nvtc/bench"))

# dense where the learned codec lives (low rates), sparse elsewhere: this 2-core machine is shared
QUALITIES = {
    "webp": [0, 5, 10, 20, 30, 50, 70, 80, 90],
    "jpeg": [5, 10, 30, 50, 70, 90],
    "avif": [10, 30, 50, 70, 90],
    "jxl": [5, 10, 30, 50, 70, 90],  # libjxl through pillow-jxl-plugin (the codecs extra)
}
NVTC_QS = [30, 40, 60, 80, 100]  # 60, 80, 100: the fine-tunes 1, 2, 3 at their own lambdas
# the AIGC PNGs are 1-5 Mpx: a sparser grid keeps the run within the shared CPU budget
AIGC_QUALITIES = {"webp": [5, 10, 20, 50, 90], "jpeg": [30, 60, 90], "avif": [30, 50, 70], "jxl": [30, 60, 90]}
AIGC_MAX_IMAGES = 8  # evenly spaced over the sorted eligible files (CPU budget of the shared machine)
LOSSLESS = ["png", "webp:lossless"]
ANCHOR = "webp"


# -- metrics ----------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """5-scale MS-SSIM of two HxWx3 uint8 images, averaged over channels."""
    from scipy.ndimage import correlate1d

    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    size, sigma = 11, 1.5
    g = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    h = size // 2

    def blur(t):  # 'valid' separable Gaussian, as a conv2d without padding
        t = correlate1d(t, g, axis=0, mode="constant")[h:-h]
        return correlate1d(t, g, axis=1, mode="constant")[:, h:-h]

    def pool(t):  # 2x2 mean, zero-padding odd sides (pytorch_msssim's avg_pool2d)
        ph, pw = t.shape[0] % 2, t.shape[1] % 2
        t = np.pad(t, ((ph, ph), (pw, pw), (0, 0))) if ph or pw else t
        H, W = t.shape[0] // 2 * 2, t.shape[1] // 2 * 2
        return t[:H, :W].reshape(H // 2, 2, W // 2, 2, -1).mean(axis=(1, 3))

    x, y = a.astype(np.float32), b.astype(np.float32)
    vals = []
    for i in range(5):
        mu_x, mu_y = blur(x), blur(y)
        sxx = blur(x * x) - mu_x**2
        syy = blur(y * y) - mu_y**2
        sxy = blur(x * y) - mu_x * mu_y
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if i < 4:
            vals.append(np.maximum(cs.mean(axis=(0, 1)), 0))
            x, y = pool(x), pool(y)
        else:
            ssim = ((2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)) * cs
            vals.append(np.maximum(ssim.mean(axis=(0, 1)), 0))
    ms = np.prod(np.stack(vals) ** weights[:, None], axis=0)  # per channel
    return float(ms.mean())


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjontegaard delta rate (%) of test vs anchor; points are (bpp, quality in dB).

    log-rate is interpolated over quality piecewise-cubically (PCHIP, as in JVET's
    BD-rate tool) rather than by the original single cubic fit, which needs >= 4 points
    and oscillates; the mean log-rate difference is taken over the overlapping range.
    """
    from scipy.interpolate import PchipInterpolator

    def curve(points):
        pts = sorted((q, math.log(b)) for b, q in points)
        qs = [q for q, _ in pts]
        if len(pts) < 2 or len(set(qs)) != len(qs):
            return None
        return PchipInterpolator(qs, [r for _, r in pts]), qs[0], qs[-1]

    ca, ct = curve(anchor), curve(test)
    if ca is None or ct is None or len(test) < 3:
        return None
    lo, hi = max(ca[1], ct[1]), min(ca[2], ct[2])
    if hi - lo < 0.5:  # less than half a dB of overlap: no meaningful average
        return None
    grid = np.linspace(lo, hi, 1001)
    diff = np.trapezoid(ct[0](grid) - ca[0](grid), grid) / (hi - lo)
    return float((math.exp(diff) - 1) * 100)


# -- the run ------------------------------------------------------------------------------------
def images(which: str) -> list[Path]:
    if which == "kodak":
        return sorted((DATA / "kodak").glob("kodim*.png"))
    manifest = json.loads((DATA / "aigc-images" / "manifest.json").read_text())
    out = []
    for f in manifest["files"]:
        # full-size PNG pictures only: sd-parsers test crops (1x1, 64x64) are no benchmark
        if f["container"] == "PNG" and min(f["size"]) >= 256 and "cropped" not in f["file"]:
            out.append(DATA / "aigc-images" / f["file"])
    out.sort()
    if len(out) > AIGC_MAX_IMAGES:
        step = len(out) / AIGC_MAX_IMAGES
        out = [out[int(i * step)] for i in range(AIGC_MAX_IMAGES)]
    return out


def specs(with_nvtc: bool, which: str = "kodak") -> list[str]:
    out = list(LOSSLESS) if which == "kodak" else []
    avail = {c.name: c for c in aigif_codecs.list_codecs()}
    for name, qs in QUALITIES.items():
        if name in avail and avail[name].available:
            out += [f"{name}:{q}" for q in (qs if which == "kodak" else AIGC_QUALITIES[name])]
    if with_nvtc and avail["nvtc"].available:
        # the Q knob (bitstream version 2); nvtc:60/80/100 are the fine-tunes 1/2/3 at their own lambdas
        qs = NVTC_QS if "10..100" in avail["nvtc"].rate_points else []
        out += [f"nvtc:{q}" for q in qs] or [f"nvtc:{r}" for r in avail["nvtc"].rate_points]
    return out if which == "kodak" else out + LOSSLESS  # lossless WebP is slow on 4 Mpx


def run(which: str, with_nvtc: bool, threads: int) -> Path:
    import torch

    torch.set_num_threads(threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"{which}.jsonl"
    done = set()
    if cache.exists():
        for line in cache.read_text().splitlines():
            r = json.loads(line)
            done.add((r["image"], r["spec"]))
    todo = specs(with_nvtc, which)
    t0 = time.time()
    refs = {p.name: Image.open(p).convert("RGB") for p in images(which)}
    # spec-major order: an interrupted run still leaves complete rate points behind
    with cache.open("a") as fh:
        for spec in todo:
            for name, im in refs.items():
                if (name, spec) in done:
                    continue
                ref = np.asarray(im)
                t = time.perf_counter()
                codec_id, data = aigif_codecs.encode(im, spec)
                t_enc = time.perf_counter() - t
                t = time.perf_counter()
                out = aigif_codecs.decode(codec_id, data, max_pixels=1 << 28)
                t_dec = time.perf_counter() - t
                rec = np.asarray(out.convert("RGB"))
                lossless = np.array_equal(ref, rec)
                row = {"image": name, "spec": spec, "w": im.width, "h": im.height, "bytes": len(data),
                       "bpp": len(data) * 8 / (im.width * im.height), "psnr": psnr(ref, rec),
                       "msssim": 1.0 if lossless else ms_ssim(ref, rec), "enc_s": t_enc, "dec_s": t_dec}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
            print(f"{spec} done ({time.time() - t0:.0f} s)", flush=True)
    return cache


def summarize(cache: Path, names: set[str]) -> dict:
    rows = [json.loads(line) for line in cache.read_text().splitlines()]
    rows = [r for r in rows if r["image"] in names]
    n_images = len({r["image"] for r in rows})
    by = {}
    for r in rows:
        by.setdefault(r["spec"], []).append(r)
    table = {}
    for spec, rs in by.items():
        if len(rs) != n_images:
            continue  # incomplete rate point
        finite = [r["psnr"] for r in rs if math.isfinite(r["psnr"])]
        table[spec] = {
            "bpp": float(np.mean([r["bpp"] for r in rs])),
            "psnr": float(np.mean(finite)) if len(finite) == len(rs) else float("inf"),
            "msssim": float(np.mean([r["msssim"] for r in rs])),
            "enc_s": float(np.mean([r["enc_s"] for r in rs])),
            "dec_s": float(np.mean([r["dec_s"] for r in rs])),
            "n": len(rs),
        }
    return {"n_images": n_images, "table": table}


def curves(table: dict) -> dict[str, list[tuple[float, float, float]]]:
    out = {}
    for spec, v in table.items():
        name, _, rate = spec.partition(":")
        if rate == "lossless" or not rate or not math.isfinite(v["psnr"]):
            continue
        out.setdefault(name, []).append((v["bpp"], v["psnr"], v["msssim"]))
    return {k: sorted(v) for k, v in out.items()}


def bd_table(table: dict) -> dict[str, dict]:
    cs = curves(table)
    anchor = cs.get(ANCHOR, [])
    res = {}
    for name, pts in cs.items():
        if name == ANCHOR:
            continue
        # restrict the anchor to its points in the test's PSNR range +- one step, as BD-rate needs overlap
        res[name] = {
            "psnr": bd_rate([(b, p) for b, p, _ in anchor], [(b, p) for b, p, _ in pts]),
            "msssim": bd_rate([(b, -10 * math.log10(1 - m)) for b, _, m in anchor],
                              [(b, -10 * math.log10(1 - m)) for b, _, m in pts]),
            "points": len(pts),
        }
    return res


def plot(table: dict, path: Path, title: str) -> None:
    cs = curves(table)
    W, H, L, R, T, B = 900, 600, 70, 20, 40, 60
    im = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(im)
    xmax = 2.5
    ys = [p for v in cs.values() for _, p, _ in v if _ <= xmax]
    ymin, ymax = math.floor(min(ys) / 2) * 2, math.ceil(max(ys) / 2) * 2

    def xy(b, p):
        return L + (W - L - R) * b / xmax, T + (H - T - B) * (1 - (p - ymin) / (ymax - ymin))

    d.rectangle([L, T, W - R, H - B], outline="black")
    for i in range(0, 11):
        b = xmax * i / 10
        x, _ = xy(b, ymin)
        d.line([x, H - B, x, H - B + 5], fill="black")
        d.text((x - 10, H - B + 8), f"{b:.2f}", fill="black")
    for p in range(int(ymin), int(ymax) + 1, 2):
        _, y = xy(0, p)
        d.line([L - 5, y, L, y], fill="black")
        d.line([L, y, W - R, y], fill=(230, 230, 230))
        d.text((L - 35, y - 6), f"{p}", fill="black")
    d.text((W // 2 - 20, H - 25), "bits per pixel", fill="black")
    d.text((8, T - 25), "PSNR (dB, RGB)", fill="black")
    d.text((W // 2 - 120, 10), title, fill="black")
    colours = {"webp": (31, 119, 180), "jpeg": (127, 127, 127), "avif": (44, 160, 44), "nvtc": (214, 39, 40),
               "jxl": (148, 103, 189)}
    for k, (name, pts) in enumerate(sorted(cs.items())):
        c = colours.get(name, (0, 0, 0))
        pts = [(b, p) for b, p, _ in pts if b <= xmax]
        d.line([xy(b, p) for b, p in pts], fill=c, width=2)
        for b, p in pts:
            x, y = xy(b, p)
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=c)
        d.line([W - R - 150, H - B - 20 - 18 * k, W - R - 120, H - B - 20 - 18 * k], fill=c, width=3)
        d.text((W - R - 112, H - B - 26 - 18 * k), name, fill="black")
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    os.replace(tmp, path)


def report(summaries: dict[str, dict], commands: list[str]) -> str:
    lines = ["# Fallback codecs: rate-distortion results", "",
             "Generated by `bench/kodak.py`. Mean over images of bpp, PSNR (RGB, dB), MS-SSIM (5-scale), "
             "and encode/decode wall-clock (s) per image on this shared 2-core machine (noisy: other jobs ran).",
             "BD-rate (Bjontegaard; log-rate interpolated over quality by PCHIP, averaged over the overlapping quality range) against Pillow WebP; negative = fewer bits "
             "than WebP at equal quality.", ""]
    for name, s in summaries.items():
        t = s["table"]
        lines += [f"## {name} ({s['n_images']} images)", ""]
        if "aigc" in name.lower():
            lines += ["Images: " + ", ".join(f"`{n}`" for n in s["images"]), ""]
        lines += ["| codec:rate | bpp | PSNR dB | MS-SSIM | enc s | dec s |",
                  "|---|---:|---:|---:|---:|---:|"]
        for spec in sorted(t, key=lambda k: (k.split(":")[0], t[k]["bpp"])):
            v = t[spec]
            ps = "lossless" if not math.isfinite(v["psnr"]) else f"{v['psnr']:.2f}"
            lines.append(f"| {spec} | {v['bpp']:.3f} | {ps} | {v['msssim']:.4f} | {v['enc_s']:.3f} | {v['dec_s']:.3f} |")
        lines += ["", "BD-rate vs WebP:", "", "| codec | BD-rate (PSNR) | BD-rate (MS-SSIM dB) | points |", "|---|---:|---:|---:|"]
        for codec, v in bd_table(t).items():
            f = lambda x: "n/a (curves do not overlap)" if x is None else f"{x:+.1f} %"  # noqa: E731
            lines.append(f"| {codec} | {f(v['psnr'])} | {f(v['msssim'])} | {v['points']} |")
        eq = equal_quality_table(t)
        if eq:
            lines += ["", "NVTC against the rate each classical codec needs for the same mean PSNR "
                      "(PCHIP interpolation of log-rate over PSNR; 'Nx' = NVTC spends N times the bits, under 1 = fewer):", ""] + eq
        lines.append("")
    lines += ["## Commands", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


def equal_quality_table(table: dict, codec: str = "nvtc") -> list[str]:
    """Each point of `codec` against the rate other codecs need for the same PSNR."""
    from scipy.interpolate import PchipInterpolator

    cs = curves(table)
    if codec not in cs:
        return []
    others = [n for n in ("webp", "jpeg", "avif", "jxl") if n in cs]
    lines = [f"| {codec} point | bpp | PSNR dB | " + " | ".join(f"{n} bpp at equal PSNR" for n in others) + " |",
             "|---|---:|---:|" + "---:|" * len(others)]
    names = sorted((s for s in table if s.startswith(codec + ":")), key=lambda k: table[k]["bpp"])
    for spec in names:
        b, q = table[spec]["bpp"], table[spec]["psnr"]
        cells = []
        for n in others:
            pts = sorted((p, math.log(r)) for r, p, _ in cs[n])
            lo, hi = pts[0][0], pts[-1][0]
            if q < lo:
                cells.append(f"below range (lowest: {math.exp(pts[0][1]):.3f} bpp at {lo:.2f} dB)")
            elif q > hi:
                cells.append("above range")
            else:
                r = math.exp(float(PchipInterpolator([p for p, _ in pts], [v for _, v in pts])(q)))
                cells.append(f"{r:.3f} ({b / r:.2f}x)")
        lines.append(f"| {spec} | {b:.3f} | {q:.2f} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", action="append", choices=["kodak", "aigc"], help="image sets (default: kodak)")
    ap.add_argument("--no-nvtc", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-codecs.md")
    ap.add_argument("--plot", type=Path, default=REPO / "bench" / "rd-kodak.png")
    args = ap.parse_args(argv)
    sets = args.set or ["kodak"]
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}; set AIGIF_SHARED_DATA", file=sys.stderr)
        return 2
    summaries = {}
    for which in sets:
        cache = CACHE / f"{which}.jsonl" if args.report_only else run(which, not args.no_nvtc, args.threads)
        label = {"kodak": "Kodak", "aigc": f"AIGC full-size PNGs, {AIGC_MAX_IMAGES} evenly spaced of the eligible"}[which]
        names = [p.name for p in images(which)]
        summaries[label] = summarize(cache, set(names))
        summaries[label]["images"] = names
    if "Kodak" in summaries:
        plot(summaries["Kodak"]["table"], args.plot, "Kodak (24 images): PSNR vs bpp")
    cmds = [f"nice -n 10 python bench/kodak.py {' '.join(sys.argv[1:])}"]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(report(summaries, cmds))
    os.replace(tmp, args.out)
    for name, s in summaries.items():
        print(name, json.dumps(bd_table(s["table"]), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
