"""Stability Matrix (Inference tab): `parameters` (A1111 text, written as UTF-8 into a
Latin-1 tEXt chunk: the mojibake is repaired by the PNG reader), `parameters-json`,
`smproj` (its UI project) and `prompt` (the ComfyUI graph it ran).

The ComfyUI graph is what actually produced the pixels, so it is the primary source;
`parameters-json` adds the full sha256 of the checkpoint, which the graph lacks."""

from __future__ import annotations

from ..draft import Draft
from ..jsonutil import first_json
from ..registered import register
from .a1111 import apply_infotext, parse_infotext
from .comfyui import detect as comfy_detect
from .comfyui import parse as comfy_parse

# AIGIF field -> Stability Matrix `parameters-json` key
FIELDS = {"prompt": "PositivePrompt", "negative_prompt": "NegativePrompt", "steps": "Steps", "guidance": "CfgScale",
          "seed": "Seed", "width": "Width", "height": "Height"}


def detect(c) -> bool:
    return c.get("smproj") is not None or first_json(c, "parameters-json", require="PositivePrompt") is not None


def parse(c) -> Draft:
    pj = first_json(c, "parameters-json") or {}
    if comfy_detect(c):
        d = comfy_parse(c)
        d.tool = "stability-matrix"
        if pj.get("ModelHash"):
            d.set_model(pj.get("ModelName"), pj.get("ModelHash"))
    elif pj:
        d = Draft("stability-matrix")
        d.take(dict(pj), FIELDS)  # a copy: the parsed JSON is shared by every parser
        d.set_model(pj.get("ModelName"), pj.get("ModelHash"))
        d.set_scheduler("a1111", pj.get("Sampler"))
    else:
        d = Draft("stability-matrix")
        apply_infotext(d, *parse_infotext(c.get("parameters")))
    d.ext["source"] = {"tool": "stability-matrix"}
    d.ignore([k for k in ("parameters", "parameters-json", "smproj") if c.get(k) is not None], "restate the graph / UI state")
    return d


register("stability_matrix", detect, parse, priority=88)
