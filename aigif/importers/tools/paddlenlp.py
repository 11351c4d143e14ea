"""PaddleNLP / PPDiffusers web UI: `parameters` with the A1111 prompt layout, but one
`key: value` per line after the negative prompt, and diffusers argument names."""

from __future__ import annotations

import re

from ..draft import Draft, to_number
from ..registered import register

_LINE = re.compile(r"^([A-Za-z_][\w ]*):\s?(.*)$")
_IGNORED = ("epoch_time", "num_images_per_prompt", "latents")
# AIGIF field -> PaddleNLP parameter line key
FIELDS = {"steps": "Steps", "guidance": "CFG scale", "seed": "Seed", "width": "width", "height": "height"}


def detect(c) -> bool:
    return (c.get("Software") or "").startswith("PaddleNLP") and bool(c.get("parameters"))


def parse_lines(text: str) -> tuple[str, str | None, dict[str, str]]:
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Steps:")), len(lines))
    params = {}
    for ln in lines[start:]:
        m = _LINE.match(ln)
        if m:
            params[m.group(1)] = m.group(2)
    head = lines[:start]
    neg_at = next((i for i, ln in enumerate(head) if ln.startswith("Negative prompt:")), None)
    if neg_at is None:
        return "\n".join(head), None, params
    negative = "\n".join([head[neg_at][len("Negative prompt:") :].removeprefix(" ")] + head[neg_at + 1 :])
    return "\n".join(head[:neg_at]), negative, params


def parse(c) -> Draft:
    prompt, negative, p = parse_lines(c.get("parameters"))
    d = Draft("paddlenlp")
    d.set("prompt", prompt)
    d.set("negative_prompt", negative)
    d.take(p, FIELDS)
    d.set_scheduler("a1111", p.pop("Sampler", None))
    d.set_model(p.pop("model_name", None))
    eta = p.pop("eta", None)
    if eta is not None:
        e = to_number(eta)
        if e is None:
            d.leave("eta", eta, "not a finite number")
        elif e != 0:
            d.extend("eta", e)
    if p.get("superres_model_name") in ("无", "None", ""):
        p.pop("superres_model_name")
    if p.get("latents") == "None":
        p.pop("latents")
    d.ignore([k for k in _IGNORED if p.pop(k, None) is not None], "no effect on the pixels")
    d.extend("source", {"tool": "paddlenlp"})
    for k, v in p.items():
        d.leave(k, v)
    return d


register("paddlenlp", detect, parse, priority=66)
