"""AIGIF syntax -> a ComfyUI API prompt graph (what POST /prompt takes):
CheckpointLoaderSimple -> LoraLoader chain -> CLIPSetLastLayer -> CLIPTextEncode x2,
EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage.

Critical extensions the graph does not implement would silently give another image, so
they raise UnsupportedFeature unless `strict=False` (then they are listed in the
returned graph's SaveImage title, which ComfyUI ignores)."""

from __future__ import annotations

from aigif.errors import UnsupportedFeature

from .common import concrete, model_name_and_hash, tool_scheduler

# ComfyUI draws the initial noise on the CPU, so an explicit CPU source is honoured
_HONOURED = {"lora", "clip_skip", "vae", "source", "comment", "unmapped"}


def _ckpt(name: str | None) -> str:
    if not name:
        return "model.safetensors"
    return name if "." in name.rsplit("/", 1)[-1][-12:] else f"{name}.safetensors"


def to_comfyui(syntax, *, strict: bool = True) -> dict:
    d = concrete(syntax)
    ext = d.get("extensions", {}) or {}
    unsupported = [k for k in ext if k not in _HONOURED and not _rng_ok(k, ext[k])]
    if unsupported and strict:
        raise UnsupportedFeature(
            f"the ComfyUI export does not implement the critical extension(s) {', '.join(sorted(unsupported))}",
            extensions=sorted(unsupported),
        )
    name, _ = model_name_and_hash(d)
    g: dict = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": _ckpt(name)}}}
    model, clip, vae = ["4", 0], ["4", 1], ["4", 2]
    for i, lo in enumerate(ext.get("lora") or []):
        nid = str(20 + i)
        g[nid] = {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": _ckpt(lo.get("name")),
                "strength_model": lo.get("weight", 1.0),
                "strength_clip": lo.get("clip_weight", lo.get("weight", 1.0)),
                "model": model,
                "clip": clip,
            },
        }
        model, clip = [nid, 0], [nid, 1]
    skip = ext.get("clip_skip")
    if isinstance(skip, int) and skip > 1:
        g["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -skip, "clip": clip}}
        clip = ["10", 0]
    vae_ext = ext.get("vae") or {}
    if vae_ext.get("name"):
        g["11"] = {"class_type": "VAELoader", "inputs": {"vae_name": _ckpt(vae_ext["name"])}}
        vae = ["11", 0]
    g["6"] = {"class_type": "CLIPTextEncode", "inputs": {"text": d.get("prompt", ""), "clip": clip}}
    g["7"] = {"class_type": "CLIPTextEncode", "inputs": {"text": d.get("negative_prompt") or "", "clip": clip}}
    g["5"] = {
        "class_type": "EmptyLatentImage",
        "inputs": {"width": d.get("width", 512), "height": d.get("height", 512), "batch_size": 1},
    }
    sampler, schedule = tool_scheduler(d.get("scheduler"), "comfyui")
    g["3"] = {
        "class_type": "KSampler",
        "inputs": {
            "seed": d.get("seed", 0),
            "steps": d.get("steps", 20),
            "cfg": float(d.get("guidance", 8.0)),
            "sampler_name": sampler or "euler",
            "scheduler": schedule or "normal",
            "denoise": 1.0,
            "model": model,
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    }
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": vae}}
    g["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "AIGIF", "images": ["8", 0]}}
    if unsupported:
        g["9"]["_meta"] = {"title": f"AIGIF: not applied: {', '.join(sorted(unsupported))}"}
    return g


def _rng_ok(name: str, value) -> bool:
    return name == "rng" and isinstance(value, dict) and set(value) == {"source"} and value["source"] == "cpu"
