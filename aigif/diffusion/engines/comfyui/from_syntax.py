"""A syntax under comfyui semantics (spec §7.1.2) -> the ComfyUI API graph it means -> the
graph interpreter (graph.run_graph) with the checkpoint, LoRA and VAE names resolved here.

- The graph: the reduced graph (extension 19) expanded with its references filled from the
  resolved syntax, else the plain txt2img graph of the fields (aigif.comfyui_graph; the
  ComfyUI exporter writes the same graph).
- Checkpoints: the syntax's model (what a `ckpt_name` reference means) is the resolved
  registry entry; any other ckpt_name (an SDXL refiner, a second checkpoint) is looked up
  in the registry by its name or file stem.  Weights load as the A1111 engine loads them
  (diffusers folders, safetensors only).
- LoRA files: lora_dir (or AIGIF_LORA_DIR), by file name or stem; VAEs: vae_dir.
Refused, naming them: node types the file could not describe, semantics options, and
critical extensions the graph form does not read.
"""

from __future__ import annotations

from pathlib import Path

from .... import comfyui_graph
from ....errors import ModelUnavailable, UnsupportedFeature
from ....extensions import RawExtension
from ....registry import get_registry
from .families import family_reasons
from ..a1111.from_syntax import folders, load_model, model_folder

# the extensions a comfyui syntax may carry: the graph and the importer's readings of it
HONOURED = {"semantics", "comfyui_graph", "lora", "clip_skip", "vae", "hires", "refiner", "pipeline_args"}
DEFAULT_PAIR = ("euler", "normal")  # KSampler's default widgets, for a syntax with no scheduler
# The model families whose checkpoints this engine loads: SD 1.x (one CLIP), SDXL base (two
# CLIPs and the size-conditioning y) and the SDXL refiner (CLIP-G, aesthetic-score y;
# engines/comfyui/sdxl.py).  Others (SD2's OpenCLIP, SD3/Flux flow matching) are refused by
# name before any weights are read.
FAMILIES = frozenset({"sd1", "sdxl", "sdxl-refiner"})


def check_family(entry) -> None:
    family = getattr(entry, "family", None)
    if family not in FAMILIES:
        raise UnsupportedFeature(f"model {entry.name!r} is of the {family or 'unknown'} family; the ComfyUI engine "
                                 f"regenerates {', '.join(sorted(FAMILIES))} models only so far")


def load_checkpoint(entry, device: str = "cpu", allow_download: bool = False):
    """The diffusers components of a registry entry, by family (loaded once per process)."""
    if getattr(entry, "family", None) not in ("sdxl", "sdxl-refiner"):
        return load_model(entry, device, allow_download)
    from .sdxl import SdxlModel  # lazy: torch

    return load_model(entry, device, allow_download, loader=SdxlModel.from_pretrained)


def refused(resolved) -> list[str]:
    """What this engine cannot honour, each named: [] when the syntax can run."""
    out = []
    for name, value in resolved.extensions.items():
        if isinstance(value, RawExtension):
            if value.critical:
                out.append(f"extension {value.code}")
            continue
        if name not in HONOURED and name not in ("source", "comment", "unmapped"):
            out.append(f"extension {name}")
    options = (resolved.extensions.get("semantics") or {}).get("options")
    if options:
        out.append("comfyui semantics option(s) " + ", ".join(sorted(options)))
    graph = resolved.extensions.get("comfyui_graph")
    if graph:
        untabled = comfyui_graph.unsupported(graph)
        if untabled:
            out.append("ComfyUI node type(s) " + ", ".join(untabled))
            out.extend(family_reasons(untabled))
    return out


def fields(resolved) -> dict:
    """The values the graph's references name, from the resolved syntax."""
    pair = comfyui_graph.scheduler_pair(resolved.scheduler) if resolved.scheduler is not None else DEFAULT_PAIR
    if pair is None:
        raise UnsupportedFeature(f"scheduler {resolved.scheduler.name!r} has no ComfyUI sampler name",
                                 scheduler=resolved.scheduler.name)
    guidance = resolved.guidance
    cfg = int(guidance) if guidance == guidance.to_integral_value() else float(guidance)
    return {"model": comfyui_graph.ckpt_file(resolved.model.name), "prompt": resolved.prompt,
            "negative_prompt": resolved.negative_prompt, "seed": resolved.seed, "steps": resolved.steps,
            "guidance": cfg, "width": resolved.width, "height": resolved.height,
            "sampler_name": pair[0], "scheduler": pair[1]}


def api_graph(resolved) -> dict:
    problems = refused(resolved)
    if problems:
        raise UnsupportedFeature("the ComfyUI engine cannot honour " + "; ".join(problems), refused=problems)
    ext = {k: v for k, v in resolved.extensions.items() if not isinstance(v, RawExtension)}
    return comfyui_graph.api_graph(ext, fields(resolved))


def _find_file(directory: Path | None, name: str) -> Path | None:
    if directory is None or not directory.is_dir():
        return None
    stem = Path(name).name
    for candidate in (stem, f"{stem}.safetensors", Path(stem).stem + ".safetensors"):
        path = directory / candidate
        if path.is_file() and path.suffix == ".safetensors":
            return path
    return None


def generate(resolved, *, allow_download=False, device="cpu", dtype=None, threads=None, attention=None,
             progress=None, cache=None, **given) -> tuple:
    """-> (PIL.Image RGB, Platform), like aigif.diffusion.generate."""
    if dtype not in (None, "float32"):
        raise UnsupportedFeature(f"the ComfyUI engine runs float32 UNets only, not {dtype}")
    api = api_graph(resolved)
    where = folders(**given)
    own = comfyui_graph.ckpt_file(resolved.model.name)
    registry = get_registry()
    missing = []
    entries = {}
    for node in api.values():
        name = node["inputs"].get("ckpt_name") if node["class_type"] == "CheckpointLoaderSimple" else None
        if not isinstance(name, str) or name in entries:
            continue
        entry = resolved.model if name == own else (registry.find_model(name) or registry.find_model(Path(name).stem))
        if entry is None:
            missing.append(f"checkpoint {name!r}: not in the model registry")
            continue
        check_family(entry)
        try:
            model_folder(entry, allow_download)
        except ModelUnavailable as e:
            missing.append(str(e.args[0]))
            continue
        entries[name] = entry
    for node in api.values():
        if node["class_type"] in ("LoraLoader", "LoraLoaderModelOnly"):
            name = str(node["inputs"].get("lora_name"))
            if _find_file(where["lora_dir"], name) is None:
                missing.append(f"LoRA {name} not found in the LoRA folder")
    if missing:
        raise ModelUnavailable("cannot regenerate with the ComfyUI engine: " + "; ".join(dict.fromkeys(missing)),
                               missing=list(dict.fromkeys(missing)), model=resolved.model.name)

    from ..._stack import import_stack  # lazy: torch
    from ...determinism import apply_determinism, thread_count  # lazy: torch
    from ...platform import capture_platform  # lazy: torch
    from .graph import GraphResources, run_graph  # lazy: torch

    torch, _diffusers = import_stack()
    loaded = {}

    def checkpoint(name):
        entry = entries.get(name)
        if entry is None:
            return None
        loaded[name] = load_checkpoint(entry, device, allow_download)
        return loaded[name]

    def vae(name):
        path = _find_file(where["vae_dir"], name)
        if path is None:
            return None
        if not loaded:
            raise ModelUnavailable(f"VAE {name!r}: a VAELoader file is read in the layout of the graph's "
                                   "checkpoint VAE, and the graph loads no checkpoint", vae=name)
        from ..a1111.vae import load_vae  # lazy: torch

        # offline: the file's tensors (diffusers or LDM names, converted by diffusers' own
        # converter) into a copy of the checkpoint's VAE, refused when they do not fit it
        return load_vae(path.parent, path.name, None, like=next(iter(loaded.values())).vae)

    resources = GraphResources(checkpoint=checkpoint, vae=vae, lora=lambda name: _find_file(where["lora_dir"], name))
    apply_determinism(torch, device)
    with thread_count(torch, threads) as used_threads:
        result = run_graph(api, resources)
        first = next(iter(loaded.values()))
        platform = capture_platform(first, device, "float32", used_threads, "default")
    from PIL import Image

    images = result.images[comfyui_graph.save_node_id(api)]
    return Image.fromarray(images[0], "RGB"), platform


def missing_inputs(resolved, **given) -> list[str]:
    """LoRA files the graph names that the user's LoRA folder lacks."""
    where = folders(**given)
    try:
        api = api_graph(resolved)
    except UnsupportedFeature:
        return []
    return [f"LoRA {n['inputs'].get('lora_name')} not found in the LoRA folder" for n in api.values()
            if n["class_type"] in ("LoraLoader", "LoraLoaderModelOnly")
            and _find_file(where["lora_dir"], str(n["inputs"].get("lora_name"))) is None]
