"""Fooocus (`parameters` JSON + `fooocus_scheme`, or A1111 text when the scheme is
"a1111"; JPEG/WebP: EXIF UserComment + MakerNote scheme) and RuinedFooocus (`parameters`
JSON with "software": "RuinedFooocus")."""

from __future__ import annotations

import re

from ..draft import Draft, to_int, to_number
from ..registered import register
from .a1111 import apply_infotext, looks_like_infotext, parse_infotext

_RES = re.compile(r"\(?\s*(\d+)\s*[,x×]\s*(\d+)\s*\)?")
# AIGIF field -> Fooocus / RuinedFooocus JSON key (Fooocus gives the size as "resolution")
FOOOCUS_FIELDS = {"prompt": "prompt", "negative_prompt": "negative_prompt", "steps": "steps",
                  "guidance": "guidance_scale", "seed": "seed"}
RUINED_FIELDS = {"prompt": "Prompt", "negative_prompt": "Negative", "steps": "steps", "width": "width",
                 "height": "height", "seed": "seed", "guidance": "cfg"}


def _params(c):
    for k in ("parameters", "UserComment"):
        v = c.get(k)
        obj = c.json(v)
        if isinstance(obj, dict):
            return obj, v
    return None, c.get("parameters") or c.get("UserComment")


def _scheme(c) -> str | None:
    s = c.get("fooocus_scheme") or c.get("MakerNote")
    return s.strip().lower() if s else None


def detect(c) -> bool:
    obj, text = _params(c)
    if isinstance(obj, dict):
        sw = str(obj.get("software", "")) + str(obj.get("version", ""))
        return "Fooocus" in sw or "full_prompt" in obj or _scheme(c) == "fooocus"
    return _scheme(c) == "a1111" and looks_like_infotext(text, c)


def parse(c) -> Draft:
    obj, text = _params(c)
    if obj is None:
        d = Draft("fooocus")
        apply_infotext(d, *parse_infotext(text))
        d.ext["source"] = {"tool": "fooocus"}
        return d
    if obj.get("software") == "RuinedFooocus":
        return _ruined(dict(obj))
    return _fooocus(dict(obj))


def _loras(d: Draft, loras) -> None:
    out = []
    for lo in loras or []:
        if isinstance(lo, (list, tuple)) and len(lo) >= 2:
            item = {"name": str(lo[0]), "weight": lo[1]}
            if len(lo) > 2 and lo[2]:
                item["hash"] = str(lo[2])
            out.append(item)
        elif isinstance(lo, str) and ":" in lo:
            name, w = lo.rsplit(":", 1)
            out.append({"name": name.strip(), "weight": to_number(w)})
    d.extend("lora", out)


def _fooocus(p: dict) -> Draft:
    d = Draft("fooocus")
    d.take(p, FOOOCUS_FIELDS)
    res = p.pop("resolution", None)
    m = _RES.search(str(res)) if res else None
    if m:
        d.set("width", m.group(1))
        d.set("height", m.group(2))
    d.set_scheduler("comfyui", p.pop("sampler", None), p.pop("scheduler", None))
    d.set_model(p.pop("base_model", None), p.pop("base_model_hash", None))
    clip = p.pop("clip_skip", None)
    if clip is not None and to_int(clip):
        d.extend("clip_skip", to_int(clip))
    _loras(d, p.pop("loras", None))
    ref = p.pop("refiner_model", None)
    switch = p.pop("refiner_switch", None)
    if ref and ref != "None":
        d.extend("refiner", {"model": d.model_ref(ref), "switch_at": switch})
    if p.get("vae") in ("Default (model)", None):
        p.pop("vae", None)
    version = p.pop("version", None)
    d.extend("source", {"tool": "fooocus", **({"version": version} if version else {})})
    p.pop("metadata_scheme", None)
    if "prompt_expansion" in p:
        d.ignore(["prompt_expansion"], "repeated inside full_prompt")
        p.pop("prompt_expansion")
    # Fooocus conditions on the style-expanded prompts (full_prompt), which are kept so
    # that nothing is lost, but AIGIF's prompt is what the user typed.
    for k, v in p.items():
        d.leave(k, v)
    return d


def _ruined(p: dict) -> Draft:
    d = Draft("ruinedfooocus")
    d.take(p, RUINED_FIELDS)
    d.set_scheduler("comfyui", p.pop("sampler_name", None), p.pop("scheduler", None))
    d.set_model(p.pop("base_model_name", None), p.pop("base_model_hash", None))
    clip = p.pop("clip_skip", None)
    if clip is not None and to_int(clip):
        d.extend("clip_skip", to_int(clip))
    _loras(d, p.pop("loras", None))
    if p.get("start_step") == 0:
        p.pop("start_step")
    if p.get("denoise") is None:
        p.pop("denoise", None)
    d.extend("source", {"tool": "ruinedfooocus"})
    p.pop("software", None)
    for k, v in p.items():
        d.leave(k, v)
    return d


register("fooocus", detect, parse, priority=65)
