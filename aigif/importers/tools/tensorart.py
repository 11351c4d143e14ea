"""Tensor.Art: `generation_data` JSON (the site's form values) beside `prompt` (the
ComfyUI graph that ran).  The graph holds the seed actually used (the form says -1 when
it was random); the form holds the checkpoint's public name and sha256 and the ENSD."""

from __future__ import annotations

from ..draft import Draft, to_int
from ..jsonutil import first_json
from ..registered import register
from .comfyui import detect as comfy_detect
from .comfyui import parse as comfy_parse

# AIGIF field -> Tensor.Art `generation_data` key
FIELDS = {"prompt": "prompt", "negative_prompt": "negativePrompt", "width": "width", "height": "height",
          "steps": "steps", "seed": "seed", "guidance": "cfgScale"}


def detect(c) -> bool:
    return first_json(c, "generation_data") is not None


def parse(c) -> Draft:
    gd = dict(first_json(c, "generation_data"))
    base = gd.get("baseModel") or {}
    if comfy_detect(c):
        d = comfy_parse(c)
        d.tool = "tensorart"
    else:
        d = Draft("tensorart")
        d.take(dict(gd), FIELDS)  # a copy: gd's other keys are read below
        d.set_scheduler("comfyui", gd.get("ksamplerName"), gd.get("schedule"))
        clip = to_int(gd.get("clipSkip"))
        if clip:
            d.extend("clip_skip", clip)
    if isinstance(base, dict) and (base.get("hash") or base.get("modelFileName")):
        d.set_model(base.get("modelFileName"), base.get("hash"))
    ensd = to_int(gd.get("etaNoiseSeedDelta"))
    if ensd:
        d.extend("rng", {"ensd": ensd})
    if gd.get("guidance") is not None:
        d.leave("generation_data.guidance", gd["guidance"], "form value not used by this graph")
    d.ext["source"] = {"tool": "tensorart"}
    d.ignore(["generation_data"], "site form values restating the graph")
    return d


register("tensorart", detect, parse, priority=87)
