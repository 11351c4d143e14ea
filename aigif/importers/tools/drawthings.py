"""Draw Things: EXIF ImageDescription (A1111-like text), Software "Draw Things", and the
parameters as JSON in EXIF UserComment (or XMP exif:UserComment): v1 short keys plus a
"v2" object restating them in camelCase."""

from __future__ import annotations

import re

from ..draft import Draft, model_stem, to_int, to_weight
from ..jsonutil import first_json
from ..registered import register
from .a1111 import apply_infotext, parse_infotext

_SIZE = re.compile(r"^(\d+)x(\d+)$")
# AIGIF field -> Draw Things JSON key
FIELDS = {"prompt": "c", "negative_prompt": "uc", "seed": "seed", "steps": "steps", "guidance": "scale"}


def detect(c) -> bool:
    sw = c.get("Software") or ""
    obj = first_json(c, "UserComment")
    return "Draw Things" in sw or (isinstance(obj, dict) and "c" in obj and ("v2" in obj or "seed_mode" in obj))


def parse(c) -> Draft:
    obj = first_json(c, "UserComment")
    d = Draft("drawthings")
    if obj is None:
        apply_infotext(d, *parse_infotext(c.get("ImageDescription") or ""))
        d.ext["source"] = {"tool": "drawthings"}
        return d
    p = dict(obj)
    d.take(p, FIELDS)
    m = _SIZE.match(str(p.pop("size", "")))
    if m:
        d.set("width", m.group(1))
        d.set("height", m.group(2))
    d.set_scheduler("a1111", p.pop("sampler", None))
    d.set_model(p.pop("model", None))
    clip = to_int(p.pop("clip_skip", None))
    if clip:
        d.extend("clip_skip", clip)
    loras = p.pop("lora", None) or []
    d.extend("lora", [{"name": model_stem(lo.get("file") or lo.get("model", "")), "weight": to_weight(lo.get("weight"), 1.0)}
                      for lo in loras if isinstance(lo, dict)])
    controls = p.pop("control", None) or []
    d.extend(
        "controlnet",
        [
            {"model": model_stem(cn.get("file", "")), "weight": to_weight(cn.get("weight"), 1.0),
             "start": cn.get("guidance_start", 0), "end": cn.get("guidance_end", 1)}
            for cn in controls if isinstance(cn, dict)
        ],
    )
    for i, cn in enumerate(controls):
        if isinstance(cn, dict) and cn.get("no_prompt"):
            d.leave(f"control{i}.no_prompt", True)
    strength = p.pop("strength", None)
    if strength is not None:
        s = to_weight(strength)
        if s is None:
            d.leave("strength", strength, "not a finite number")
        elif s < 1:
            d.extend("img2img", {"strength": s})
    if p.pop("hires_fix", False):
        d.extend("hires", {"denoise": to_weight(p.pop("second_stage_strength", None), 0.7)})
        # AIGIF's hires size is the final one (already width x height); Draw Things
        # records the first stage's, which AIGIF has no field for
        d.leave("first_stage_size", p.pop("first_stage_size", None))
    if "v2" in p:
        p.pop("v2")
        d.ignore(["v2"], "restates the v1 keys in camelCase")
    d.extend("source", {"tool": "drawthings"})
    if c.get("ImageDescription"):
        d.ignore(["ImageDescription"], "text restating the JSON")
    for k, v in p.items():
        d.leave(k, round(v, 6) if isinstance(v, float) else v)
    return d


register("drawthings", detect, parse, priority=75)
