"""Diffusers-style JSON in `parameters`, as Hugging Face Spaces write it (e.g. the
Animagine XL demo): prompt, negative_prompt, num_inference_steps, guidance_scale, seed,
width/height or "resolution": "W x H", sampler (an A1111 name), Model, Model hash."""

from __future__ import annotations

import re

from ..draft import Draft
from ..jsonutil import first_json
from ..registered import register

# AIGIF field -> diffusers pipeline argument name
FIELDS = {"prompt": "prompt", "negative_prompt": "negative_prompt", "steps": "num_inference_steps",
          "guidance": "guidance_scale", "seed": "seed", "width": "width", "height": "height"}
_RES = re.compile(r"(\d+)\s*[x×]\s*(\d+)")


def detect(c) -> bool:
    obj = first_json(c, "parameters", "UserComment")
    return isinstance(obj, dict) and "prompt" in obj and ("num_inference_steps" in obj or "guidance_scale" in obj)


def parse(c) -> Draft:
    p = dict(first_json(c, "parameters", "UserComment"))
    d = Draft("diffusers")
    d.take(p, FIELDS)
    res = p.pop("resolution", None)
    m = _RES.search(str(res)) if res else None
    if m:
        d.set("width", m.group(1))
        d.set("height", m.group(2))
    sampler = p.pop("sampler", None) or p.pop("scheduler", None)
    d.set_scheduler("diffusers", sampler)
    name = p.pop("Model", None) or p.pop("model", None)
    d.set_model(name, p.pop("Model hash", None) or p.pop("model_hash", None))
    d.extend("source", {"tool": "diffusers"})
    for k, v in p.items():
        if v is not None:
            d.leave(k, v)
    return d


register("diffusers_json", detect, parse, priority=30)
