"""AIGIF syntax -> a ComfyUI API prompt graph (what POST /prompt takes):
CheckpointLoaderSimple -> LoraLoader chain -> CLIPSetLastLayer -> CLIPTextEncode x2,
EmptyLatentImage -> KSampler -> VAEDecode -> SaveImage.

Critical extensions the graph does not implement would silently give another image, so
they raise UnsupportedFeature unless `strict=False` (then they are listed in the
returned graph's SaveImage title, which ComfyUI ignores)."""

from __future__ import annotations

from aigif import comfyui_graph
from aigif.errors import UnsupportedFeature
from aigif.extensions import engine_of
from aigif.registry import get_registry

from .common import concrete, model_name_and_hash, tool_scheduler

# ComfyUI draws the initial noise on the CPU, so an explicit CPU source is honoured
_HONOURED = {"lora", "clip_skip", "vae", "hires", "refiner", "source", "comment", "unmapped"}


def _ckpt(name: str | None) -> str:
    if not name:
        return "model.safetensors"
    return name if "." in name.rsplit("/", 1)[-1][-12:] else f"{name}.safetensors"


# critical extensions a comfyui-semantics syntax may carry (spec §7.1.2): the graph, and the
# readings of it that importers write beside it for other tools
COMFYUI_HONOURED = {"semantics", "comfyui_graph", "lora", "clip_skip", "vae", "hires", "refiner", "pipeline_args"}
DEFAULT_PAIR = ("euler", "normal")  # KSampler's own default widgets: a syntax with no scheduler


def graph_fields(d: dict) -> dict:
    """The values a reduced graph's references name (spec §7.1.2), from a concrete syntax."""
    name, _ = model_name_and_hash(d)
    entry = get_registry().find_scheduler(d["scheduler"]) if d.get("scheduler") is not None else None
    pair = comfyui_graph.scheduler_pair(entry) if entry is not None else None
    if pair is None and d.get("scheduler") is not None:
        raise UnsupportedFeature(f"scheduler {d['scheduler']!r} has no ComfyUI sampler name", scheduler=d["scheduler"])
    sampler, scheduler = pair or DEFAULT_PAIR
    return {"model": comfyui_graph.ckpt_file(name), "prompt": d.get("prompt", ""),
            "negative_prompt": d.get("negative_prompt") or "", "seed": d["seed"], "steps": d["steps"],
            "guidance": d["guidance"], "width": d["width"], "height": d["height"],
            "sampler_name": sampler, "scheduler": scheduler}


def comfyui_semantics_graph(d: dict, *, strict: bool = True) -> dict:
    """A syntax under comfyui semantics -> the graph ComfyUI runs to the same image: the
    reduced graph expanded, else the plain txt2img graph of the fields."""
    ext = d.get("extensions", {}) or {}
    refused = sorted(k for k in ext if k not in COMFYUI_HONOURED and not _ancillary(k))
    if (ext.get("semantics") or {}).get("options"):
        refused.append("semantics options " + ", ".join(sorted(ext["semantics"]["options"])))
    untabled = comfyui_graph.unsupported(ext["comfyui_graph"]) if "comfyui_graph" in ext else []
    if strict and (refused or untabled):
        what = [f"the critical extension(s) {', '.join(refused)}"] if refused else []
        what += [f"node type(s) {', '.join(untabled)} (not kept in the file)"] if untabled else []
        raise UnsupportedFeature(f"the ComfyUI export cannot write {' and '.join(what)}", extensions=refused, nodes=untabled)
    return comfyui_graph.api_graph(ext, graph_fields(d))


def _ancillary(name: str) -> bool:
    return name in ("source", "comment", "unmapped") or name.startswith("ext-")


def to_comfyui(syntax, *, strict: bool = True) -> dict:
    d = concrete(syntax)
    ext = d.get("extensions", {}) or {}
    if engine_of(ext) == "comfyui":
        if not comfyui_graph.unsupported(ext.get("comfyui_graph") or []):
            return comfyui_semantics_graph(d, strict=strict)
        # nodes the file does not describe: rebuild from the walk's reading (lora, hires,
        # refiner ...) as for any other tool's syntax; the untabled nodes are not in it
        ext = {k: v for k, v in ext.items() if k not in ("semantics", "comfyui_graph")}
        d = {**d, "extensions": ext}
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
        "inputs": {"width": d["width"], "height": d["height"], "batch_size": 1},
    }
    sampler, schedule = tool_scheduler(d.get("scheduler"), "comfyui")
    g["3"] = {
        "class_type": "KSampler",
        "inputs": {
            "seed": d["seed"],
            "steps": d["steps"],
            "cfg": float(d["guidance"]),
            "sampler_name": sampler or "euler",
            "scheduler": schedule or "normal",
            "denoise": 1.0,
            "model": model,
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    }
    latent = ["3", 0]
    if ext.get("refiner"):
        latent = _refiner(g, ext["refiner"], d, latent)
    if ext.get("hires"):
        latent = _hires(g, ext["hires"], d, latent, model, vae)
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": latent, "vae": vae}}
    g["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "AIGIF", "images": ["8", 0]}}
    if unsupported:
        g["9"]["_meta"] = {"title": f"AIGIF: not applied: {', '.join(sorted(unsupported))}"}
    return g


def _hires(g: dict, h: dict, d: dict, latent: list, model: list, vae: list) -> list:
    """A1111-style second pass: upscale (latent or with an upscaler model), then sample
    again with `denoise`."""
    w0, h0 = d["width"], d["height"]
    scale = h.get("scale", 2)
    width, height = h.get("width") or int(w0 * scale) // 8 * 8, h.get("height") or int(h0 * scale) // 8 * 8
    upscaler = str(h.get("upscaler") or "Latent")
    if upscaler.lower().startswith("latent"):
        g["30"] = {"class_type": "LatentUpscale", "inputs": {"upscale_method": "nearest-exact", "width": width,
                                                             "height": height, "crop": "disabled", "samples": latent}}
        up = ["30", 0]
    else:
        g["31"] = {"class_type": "VAEDecode", "inputs": {"samples": latent, "vae": vae}}
        g["32"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": _ckpt(upscaler).replace(".safetensors", ".pth")}}
        g["33"] = {"class_type": "ImageUpscaleWithModel", "inputs": {"upscale_model": ["32", 0], "image": ["31", 0]}}
        g["34"] = {"class_type": "ImageScale", "inputs": {"upscale_method": "lanczos", "width": width, "height": height,
                                                          "crop": "disabled", "image": ["33", 0]}}
        g["35"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["34", 0], "vae": vae}}
        up = ["35", 0]
    first = g["3"]["inputs"]
    sampler, schedule = (first["sampler_name"], first["scheduler"])
    if h.get("scheduler"):
        sampler, schedule = tool_scheduler(h["scheduler"], "comfyui")
    g["36"] = {"class_type": "KSampler", "inputs": {**first, "steps": h.get("steps") or first["steps"],
                                                    "denoise": h.get("denoise", 0.7), "sampler_name": sampler or "euler",
                                                    "scheduler": schedule or "normal", "model": model, "latent_image": up}}
    return ["36", 0]


def _refiner(g: dict, r: dict, d: dict, latent: list) -> list:
    """SDXL base + refiner: the base samples steps [0, switch), the refiner the rest."""
    first = g["3"]
    steps = first["inputs"]["steps"]
    switch = int(round(steps * float(r.get("switch_at", 0.8))))
    ins = first["inputs"]
    first["class_type"] = "KSamplerAdvanced"
    first["inputs"] = {"add_noise": "enable", "noise_seed": ins["seed"], "steps": steps, "cfg": ins["cfg"],
                       "sampler_name": ins["sampler_name"], "scheduler": ins["scheduler"], "start_at_step": 0,
                       "end_at_step": switch, "return_with_leftover_noise": "enable", "model": ins["model"],
                       "positive": ins["positive"], "negative": ins["negative"], "latent_image": ins["latent_image"]}
    g["40"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": _ckpt(r.get("model"))}}
    g["41"] = {"class_type": "CLIPTextEncode", "inputs": {"text": d.get("prompt", ""), "clip": ["40", 1]}}
    g["42"] = {"class_type": "CLIPTextEncode", "inputs": {"text": d.get("negative_prompt") or "", "clip": ["40", 1]}}
    g["43"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **first["inputs"], "add_noise": "disable", "noise_seed": 0, "steps": r.get("steps") or steps,
        "start_at_step": switch, "end_at_step": 10000, "return_with_leftover_noise": "disable",
        "model": ["40", 0], "positive": ["41", 0], "negative": ["42", 0], "latent_image": latent}}
    return ["43", 0]


def _rng_ok(name: str, value) -> bool:
    return name == "rng" and isinstance(value, dict) and set(value) == {"source"} and value["source"] == "cpu"
