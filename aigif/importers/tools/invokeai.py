"""InvokeAI: `invokeai_metadata` JSON (3.x to 6.x) and `sd-metadata` JSON (2.x).
The 2.x `Dream` command line alone is handled by dream.py."""

from __future__ import annotations

import re

from ..draft import Draft, to_int
from ..jsonutil import first_json
from ..registered import register

_NEG = re.compile(r"\[([^\[\]]*)\]")
# AIGIF field -> InvokeAI 3+ `invokeai_metadata` key / InvokeAI 2 `sd-metadata` image key
V3_FIELDS = {"prompt": "positive_prompt", "negative_prompt": "negative_prompt", "width": "width",
             "height": "height", "seed": "seed", "steps": "steps", "guidance": "cfg_scale"}
V2_FIELDS = {"width": "width", "height": "height", "seed": "seed", "steps": "steps", "guidance": "cfg_scale"}


def split_invoke2_prompt(text: str) -> tuple[str, str | None]:
    """InvokeAI 2.x writes the negative prompt inline in square brackets."""
    negs = _NEG.findall(text)
    if not negs:
        return text, None
    return _NEG.sub("", text).strip(), ", ".join(n.strip() for n in negs)


def _name(m) -> str | None:
    if isinstance(m, dict):
        return m.get("model_name") or m.get("name")
    return m if isinstance(m, str) else None


def detect(c) -> bool:
    return first_json(c, "invokeai_metadata") is not None or first_json(c, "sd-metadata") is not None


def parse(c) -> Draft:
    meta = first_json(c, "invokeai_metadata")
    d = Draft("invokeai")
    if meta is not None:
        _v3(d, dict(meta))
        d.ignore([k for k in ("invokeai_graph", "invokeai_workflow") if c.get(k)], "node graph restating invokeai_metadata")
    else:
        _v2(d, dict(first_json(c, "sd-metadata")))
        d.ignore(["Dream"] if c.get("Dream") else [], "command line restating sd-metadata")
    return d


def _v3(d: Draft, p: dict) -> None:
    d.take(p, V3_FIELDS)
    d.set_scheduler("invokeai", p.pop("scheduler", None))
    model = p.pop("model", None)
    if model is not None:
        d.set_model(_name(model), model.get("hash") if isinstance(model, dict) else None)
        if isinstance(model, dict) and model.get("hash", "").startswith("blake3:"):
            d.warnings.append("InvokeAI model hash is BLAKE3: the fingerprint is its 10-hex prefix, not a sha256")
    rand = p.pop("rand_device", None)
    if rand:
        d.extend("rng", {"source": str(rand).lower()})
    rescale = p.pop("cfg_rescale_multiplier", None)
    if rescale:
        d.extend("pipeline_args", {"guidance_rescale": rescale})
    clip = p.pop("clip_skip", None)
    if clip:
        n = to_int(clip)
        if n is not None and n >= 0:
            d.extend("clip_skip", n + 1)
        else:
            d.leave("clip_skip", clip, "not a layer count")  # InvokeAI counts skipped layers; AIGIF the last used
    vae = p.pop("vae", None)
    if vae:
        d.extend("vae", {"name": _name(vae)})
    loras = p.pop("loras", None) or []
    out = []
    for lo in loras:
        m = lo.get("lora") or lo.get("model") or {}
        item = {"name": _name(m) or "", "weight": lo.get("weight", 1.0)}
        if isinstance(m, dict) and m.get("hash"):
            item["hash"] = m["hash"]
        out.append(item)
    d.extend("lora", out)
    ips = p.pop("ipAdapters", None) or p.pop("ip_adapters", None) or []
    if ips:
        d.extend("ip_adapter", [{"model": _name(i.get("ip_adapter_model")) or "", "weight": i.get("weight", 1.0)} for i in ips])
        d.leave("ip_adapter_images", [((i.get("image") or {}).get("image_name")) for i in ips], "reference image not embedded")
        for i, ip in enumerate(ips):
            if ip.get("begin_step_percent", 0) != 0 or ip.get("end_step_percent", 1) != 1:
                d.leave(f"ip_adapter{i}.steps", [ip.get("begin_step_percent"), ip.get("end_step_percent")])
    cns = p.pop("controlnets", None) or []
    if cns:
        d.extend(
            "controlnet",
            [
                {
                    "model": _name(cn.get("control_model")) or "",
                    "weight": cn.get("control_weight", 1.0),
                    "start": cn.get("begin_step_percent", 0),
                    "end": cn.get("end_step_percent", 1),
                }
                for cn in cns
            ],
        )
        d.leave("controlnet_images", [((cn.get("image") or {}).get("image_name")) for cn in cns], "control image not embedded")
    mode = p.pop("generation_mode", None)
    if mode and "img2img" in mode or "strength" in p:
        d.extend("img2img", {"strength": p.pop("strength", 1.0)})
        d.leave("init_image", p.pop("init_image", None), "init image not embedded")
    if p.pop("hrf_enabled", False):
        d.extend("hires", {"denoise": p.pop("hrf_strength", None), "upscaler": p.pop("hrf_method", None)})
    refiner = {}
    if p.get("refiner_model"):
        refiner["model"] = d.model_ref(_name(p.pop("refiner_model")))
        if "refiner_start" in p:
            refiner["switch_at"] = p.pop("refiner_start")
        if "refiner_steps" in p:
            refiner["steps"] = p.pop("refiner_steps")
    d.extend("refiner", refiner)
    version = p.pop("app_version", None)
    d.extend("source", {"tool": "invokeai", **({"version": version} if version else {})})
    for k in ("seamless_x", "seamless_y"):
        if p.get(k) is False:
            p.pop(k)
    for k in ("positive_style_prompt", "negative_style_prompt"):
        if p.get(k) == "":
            p.pop(k)
    for k, v in p.items():
        d.leave(k, v)


def _v2(d: Draft, meta: dict) -> None:
    img = dict(meta.pop("image", None) or {})
    prompts = img.pop("prompt", None)
    if isinstance(prompts, list):
        if len(prompts) > 1:
            d.leave("prompt_blend", prompts, "weighted prompt blend")
        text = prompts[0].get("prompt", "") if prompts else ""
    else:
        text = prompts or ""
    prompt, negative = split_invoke2_prompt(text)
    d.set("prompt", prompt)
    d.set("negative_prompt", negative)
    d.take(img, V2_FIELDS)
    d.set_scheduler("invoke2", img.pop("sampler", None))
    d.set_model(meta.pop("model_weights", None), meta.pop("model_hash", None))
    meta.pop("model", None)  # always "stable diffusion"
    d.extend("source", {"tool": "invokeai", "version": meta.pop("app_version", "")})
    meta.pop("app_id", None)
    kind = img.pop("type", "txt2img")
    if kind != "txt2img":
        d.extend("img2img", {"strength": img.pop("strength", None)})
        d.leave("init_image_path", img.pop("init_image_path", None), "init image not embedded")
    for k, default in (("threshold", 0), ("perlin", 0), ("seamless", False), ("hires_fix", False), ("variations", [])):
        if img.get(k) == default:
            img.pop(k)
    pp = img.pop("postprocessing", None)
    if pp:
        d.leave("postprocessing", pp, "face restoration / upscaling after generation")
    for k, v in {**img, **meta}.items():
        d.leave(k, v)


register("invokeai", detect, parse, priority=70)
