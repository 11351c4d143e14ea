"""SwarmUI: `parameters` (PNG) or EXIF UserComment (WebP/JPEG) holding
{"sui_image_params": {...}, "sui_extra_data": {...}, "sui_models": [{name, param, hash}]}."""

from __future__ import annotations

from ..draft import Draft, to_int, to_number
from ..jsonutil import first_json
from ..registered import register

_KEYS = ("parameters", "UserComment")
# AIGIF field -> SwarmUI `sui_image_params` key
FIELDS = {"prompt": "prompt", "negative_prompt": "negativeprompt", "seed": "seed", "steps": "steps",
          "guidance": "cfgscale", "width": "width", "height": "height"}


def detect(c) -> bool:
    return first_json(c, *_KEYS, require="sui_image_params") is not None


def parse(c) -> Draft:
    obj = first_json(c, *_KEYS, require="sui_image_params")
    p = dict(obj["sui_image_params"])
    d = Draft("swarmui")
    d.take(p, FIELDS)
    p.pop("aspectratio", None)  # implied by width/height
    d.set_scheduler("comfyui", p.pop("sampler", "euler"), p.pop("scheduler", None))
    models = {m.get("param"): m for m in obj.get("sui_models") or [] if isinstance(m, dict)}
    name = p.pop("model", None)
    d.set_model(name, (models.get("model") or {}).get("hash"))
    clip = p.pop("clipstopatlayer", None)
    if clip is not None and to_int(clip) is not None:
        d.extend("clip_skip", abs(to_int(clip)))
    loras, weights = p.pop("loras", None), p.pop("loraweights", None)
    if loras:
        ws = list(weights) if isinstance(weights, list) else []
        d.extend("lora", [{"name": n, "weight": to_number(ws[i]) if i < len(ws) else 1.0}
                          for i, n in enumerate(loras if isinstance(loras, list) else [loras])])
    version = p.pop("swarm_version", None)
    d.extend("source", {"tool": "swarmui", **({"version": version} if version else {})})
    if p.get("automaticvae") is True:
        p.pop("automaticvae")  # the default: the model's own VAE
    for k, v in p.items():
        d.leave(k, v)
    extra = obj.get("sui_extra_data")
    if isinstance(extra, dict):
        d.ignore(list(extra), "SwarmUI bookkeeping")
    return d


register("swarmui", detect, parse, priority=90)
