"""NovelAI: tEXt Title/Description/Software/Source/Comment, the `Comment` JSON holding the
parameters (legacy SD-based models and V3/V4.x with `v4_prompt` multi-character
captions).  The WebP variant wraps the same chunks as JSON in EXIF UserComment; the
alpha-LSB variant is unpacked by containers.stealth."""

from __future__ import annotations

import re

from ..draft import Draft
from ..registered import register

_HASH8 = re.compile(r"[0-9A-Fa-f]{8}")
# Values that are bookkeeping of NovelAI's API, not generation parameters.
_IGNORED = ("signed_hash", "request_type", "stream", "version", "n_samples")
# AIGIF field -> NovelAI Comment key (the prompts need the v4 fallbacks, set by hand)
FIELDS = {"steps": "steps", "guidance": "scale", "seed": "seed", "width": "width", "height": "height"}


def _fields(c) -> dict[str, str]:
    fields = {f.key: f.value for f in c.fields}
    wrapped = c.json(fields.get("UserComment"))
    if isinstance(wrapped, dict) and isinstance(wrapped.get("Comment"), str):
        for k, v in wrapped.items():
            if isinstance(v, str):
                fields.setdefault(k, v)
        fields["Comment"] = wrapped["Comment"]
    return fields


def detect(c) -> bool:
    f = _fields(c)
    comment = c.json(f.get("Comment"))
    if not isinstance(comment, dict):
        return False
    software = f.get("Software", "")
    return software.startswith("NovelAI") or "uc" in comment or "v4_prompt" in comment


def parse(c) -> Draft:
    f = _fields(c)
    p = dict(c.json(f["Comment"]))
    d = Draft("novelai")
    prompt = p.pop("prompt", None)
    if prompt is None:
        prompt = f.get("Description")
    d.set("prompt", prompt)
    uc = p.pop("uc", None)
    v4p, v4n = p.pop("v4_prompt", None), p.pop("v4_negative_prompt", None)
    if uc is None and isinstance(v4n, dict):
        uc = (v4n.get("caption") or {}).get("base_caption")
    d.set("negative_prompt", uc)
    d.take(p, FIELDS)
    d.set_scheduler("novelai", p.pop("sampler", None), p.pop("noise_schedule", None))

    source = f.get("Source") or (f.get("Software") if f.get("Software", "") != "NovelAI" else None)
    if source:
        name, hash8 = split_source(source.strip())
        d.set_model(name, hash8)

    _characters(d, v4p, v4n)
    if isinstance(v4p, dict):
        for k in ("use_coords", "use_order", "legacy_uc"):
            if k in v4p:
                d.leave(f"v4_prompt.{k}", v4p[k])
    rescale = p.pop("cfg_rescale", None)
    if rescale:
        d.extend("pipeline_args", {"guidance_rescale": rescale})
    if "strength" in p or "noise" in p:
        # legacy NovelAI writes its img2img sliders into every Comment; whether an init
        # image was used is not recorded
        for k in ("strength", "noise"):
            if k in p:
                d.leave(k, p.pop(k), "NovelAI img2img slider; use of an init image not recorded")
    d.extend("source", {"tool": "novelai"})
    d.ignore([k for k in _IGNORED if p.pop(k, None) is not None], "NovelAI API bookkeeping")
    d.ignore([k for k in ("Title", "Generation time") if k in f], "no effect on the pixels")
    for k, v in p.items():
        if v is None or v == [] or v == {}:
            continue
        if isinstance(v, dict):
            v = {kk: vv for kk, vv in v.items() if vv is not None}
            if not v:
                continue
        d.leave(k, v)
    return d


def split_source(source: str) -> tuple[str, str | None]:
    """'Stable Diffusion XL C1E60F0F' -> (name, 'C1E60F0F'); no trailing 8-hex word: (source, None).

    Split at the last white space run, not with `^(.*?)\\s+(hex{8})$`, which backtracks
    quadratically over a Source padded with spaces."""
    parts = source.rsplit(None, 1)
    if len(parts) == 2 and _HASH8.fullmatch(parts[1]) and "\n" not in parts[0]:
        return parts[0], parts[1]
    return source, None


def _characters(d: Draft, v4p, v4n) -> None:
    if not isinstance(v4p, dict):
        return
    chars = (v4p.get("caption") or {}).get("char_captions") or []
    negs = ((v4n or {}).get("caption") or {}).get("char_captions") or []
    out = []
    for i, ch in enumerate(chars):
        item = {"prompt": ch.get("char_caption", "")}
        if i < len(negs):
            item["negative_prompt"] = negs[i].get("char_caption", "")
        centers = ch.get("centers") or []
        if centers:
            item["center"] = [centers[0].get("x", 0.5), centers[0].get("y", 0.5)]
            if len(centers) > 1:
                d.leave(f"character{i}.centers", centers)
        out.append(item)
    d.extend("characters", out)


register("novelai", detect, parse, priority=80)
