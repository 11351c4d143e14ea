"""A syntax under a1111 semantics (spec §7.1.1) -> the A1111 engine: A1111Params, the
model, the user's folders, and the run with its Platform.

What each field and extension becomes is the spec's table, in code:
- scheduler ID -> (sampler, schedule type) by the entry's first "Sampler|Schedule" a1111
  alias (SchedulerEntry.a1111_sampler); options "Sampler" / "Schedule type" override it;
- rng {source, ensd}: source absent = GPU (emulated with NV off CUDA, recorded in the
  notes and visible in the PLATFORM's device); variation {seed, strength}; batch
  {size, index}; clip_skip; eta; vae {name, hash}; lora [{name, weight, hash}] (the
  weights come from the prompt's <lora:...> tags, as in A1111; every listed LoRA must
  have one); embeddings [{name, hash}] (loaded from the embeddings folder);
  hires {scale, width, height, steps, denoise, upscaler, scheduler};
- semantics.options: A1111 infotext keys (OPTIONS below); semantics.version: "Version".
Anything else critical is refused, naming it: this engine must not make another image.

Folders: keyword arguments lora_dir / embeddings_dir / vae_dir, else the environment
variables AIGIF_LORA_DIR / AIGIF_EMBEDDINGS_DIR / AIGIF_VAE_DIR.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from ....errors import InvalidSyntax, ModelUnavailable, UnsupportedFeature
from ....extensions import BY_NAME, RawExtension

FOLDER_ENV = {"lora_dir": "AIGIF_LORA_DIR", "embeddings_dir": "AIGIF_EMBEDDINGS_DIR", "vae_dir": "AIGIF_VAE_DIR"}
_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::[^>]*)?>")  # the name part of A1111's <lora:name:weight>
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


def _number(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidSyntax(f"A1111 option {key!r} must be a number, not {value!r}")
    try:
        return float(value)
    except ValueError:
        raise InvalidSyntax(f"A1111 option {key!r} must be a number, not {value!r}") from None


def _flag(key: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("True", "False"):  # A1111 writes Python's str(bool)
        return value == "True"
    raise InvalidSyntax(f"A1111 option {key!r} must be True or False, not {value!r}")


def _text(key: str, value) -> str:
    if not isinstance(value, str):
        raise InvalidSyntax(f"A1111 option {key!r} must be a string, not {value!r}")
    return value


def _size(key: str, value) -> tuple[int, int]:
    m = _SIZE.fullmatch(str(value).strip())
    if not m:
        raise InvalidSyntax(f"A1111 option {key!r} must be WxH, not {value!r}")
    return int(m.group(1)), int(m.group(2))


# Infotext key -> (A1111Params field, converter): the keys this engine honours.
OPTIONS = {
    "Sampler": ("sampler", _text),
    "Schedule type": ("schedule_type", _text),
    "Emphasis": ("emphasis", _text),
    "NGMS": ("ngms", _number),
    "NGMS all steps": ("ngms_all_steps", _flag),
    "Skip Early CFG": ("skip_early_cfg", _number),
    "Pad conds": ("pad_conds", _flag),
    "Pad conds v0": ("pad_conds_v0", _flag),
    "Old prompt editing timelines": ("old_prompt_editing", _flag),
    "Downcast alphas_cumprod": ("downcast_alphas_cumprod", _flag),
    "Sigma churn": ("s_churn", _number),
    "Sigma tmin": ("s_tmin", _number),
    "Sigma tmax": ("s_tmax", _number),
    "Sigma noise": ("s_noise", _number),
    "Schedule rho": ("schedule_rho", _number),
    "Schedule min sigma": ("schedule_sigma_min", _number),
    "Schedule max sigma": ("schedule_sigma_max", _number),
    "Discard penultimate sigma": ("discard_penultimate_sigma", _flag),
    "Beta schedule alpha": ("beta_alpha", _number),
    "Beta schedule beta": ("beta_beta", _number),
    "Seed resize from": ("seed_resize_from", _size),
    "Hires sampler": ("hr_sampler", _text),
    "Hires schedule type": ("hr_schedule_type", _text),
    "Hires prompt": ("hr_prompt", _text),
    "Hires negative prompt": ("hr_negative_prompt", _text),
    "Hires CFG Scale": ("hr_cfg_scale", _number),
    "Hires checkpoint": ("hr_checkpoint", _text),
}
HONOURED = frozenset({"semantics", "rng", "variation", "batch", "clip_skip", "eta", "vae", "lora", "embeddings", "hires"})
HIRES_KEYS = frozenset({"scale", "width", "height", "steps", "denoise", "upscaler", "scheduler"})


def folders(**given) -> dict[str, Path | None]:
    out = {}
    for key, env in FOLDER_ENV.items():
        value = given.get(key) or os.environ.get(env) or None
        out[key] = Path(value) if value else None
    return out


def refused_extensions(extensions: dict) -> list[str]:
    """The critical extensions this engine cannot honour (ancillary ones carry no meaning)."""
    refused = []
    for name, value in extensions.items():
        critical = value.critical if isinstance(value, RawExtension) else (BY_NAME[name].critical if name in BY_NAME else True)
        if critical and (isinstance(value, RawExtension) or name not in HONOURED):
            refused.append(name)
    return refused


def _pair(entry, what: str) -> tuple[str, str]:
    pair = entry.a1111_sampler if entry is not None else None
    if pair is None:
        raise UnsupportedFeature(f"{what}: scheduler {getattr(entry, 'name', None)!r} names no A1111 sampler "
                                 "(no 'Sampler|Schedule type' a1111 alias in the scheduler table)")
    return pair


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSyntax(f"{what} must be an integer, not {value!r}")
    return value


def _float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSyntax(f"{what} must be a number, not {value!r}")
    return float(value)


def lora_names_in(prompt: str) -> list[str]:
    return [m.group(1) for m in _LORA_TAG.finditer(prompt)]


def to_params(resolved):
    """ResolvedSyntax (a1111 semantics) -> A1111Params; refuses what it cannot honour."""
    from .engine import A1111Params  # lazy: engine imports torch; the checks above need none

    ext = resolved.extensions
    refused = refused_extensions(ext)
    if refused:
        raise UnsupportedFeature("the A1111 engine cannot honour critical extension(s): " + ", ".join(refused),
                                 extensions=refused)
    sampler, schedule = _pair(resolved.scheduler, "A1111 sampler")
    p = A1111Params(prompt=resolved.prompt, negative_prompt=resolved.negative_prompt, steps=resolved.steps,
                    sampler=sampler, schedule_type=schedule, cfg_scale=float(resolved.guidance),
                    seed=resolved.seed, width=resolved.width, height=resolved.height)
    semantics = ext.get("semantics", {})
    p.version = semantics.get("version")
    unknown = sorted(set(semantics.get("options", {})) - set(OPTIONS))
    if unknown:
        raise UnsupportedFeature(f"A1111 option(s) this engine does not know: {', '.join(unknown)}", options=unknown)

    rng = ext.get("rng", {})
    if not isinstance(rng, dict) or set(rng) - {"source", "ensd"}:
        raise UnsupportedFeature(f"rng {rng!r}: only {{source, ensd}}")
    if "source" in rng:
        if not isinstance(rng["source"], str) or rng["source"].upper() not in ("CPU", "GPU", "NV"):
            raise UnsupportedFeature(f"rng source {rng['source']!r} is not cpu, gpu or nv")
        p.rng_source = rng["source"].upper()
    p.ensd = _int(rng.get("ensd", 0), "rng.ensd")
    variation = ext.get("variation", {})
    if not isinstance(variation, dict) or set(variation) - {"seed", "strength"}:
        raise UnsupportedFeature(f"variation {variation!r}: only {{seed, strength}}")
    p.subseed = _int(variation.get("seed", 0), "variation.seed")
    p.subseed_strength = _float(variation.get("strength", 0), "variation.strength")
    batch = ext.get("batch", {})
    if not isinstance(batch, dict) or set(batch) - {"size", "index"}:
        raise UnsupportedFeature(f"batch {batch!r}: only {{size, index}}")
    p.batch_size = _int(batch.get("size", 1), "batch.size")
    p.batch_index = _int(batch.get("index", 0), "batch.index")
    if "clip_skip" in ext:
        p.clip_skip = _int(ext["clip_skip"], "clip_skip")
    if "eta" in ext:
        p.eta = _float(ext["eta"], "eta")
    vae = ext.get("vae")
    if vae is not None:
        if set(vae) - {"name", "hash"}:
            raise UnsupportedFeature(f"vae {vae!r}: only {{name, hash}}")
        p.vae, p.vae_hash = vae.get("name"), vae.get("hash")

    listed = ext.get("lora", [])
    tagged = set(lora_names_in(resolved.prompt))
    untagged = [x["name"] for x in listed if x["name"] not in tagged]
    if untagged:
        # A1111 applies the networks of the prompt's tags; a listed one without a tag was
        # not applied the way this file says, so the image cannot be made as recorded.
        raise UnsupportedFeature(f"LoRA {', '.join(untagged)} listed without a <lora:...> tag in the prompt")
    p.lora_hashes = {x["name"]: x["hash"] for x in listed if isinstance(x.get("hash"), str)}

    hires = ext.get("hires")
    if hires is not None:
        extra = sorted(set(hires) - HIRES_KEYS)
        if extra:
            raise UnsupportedFeature(f"hires key(s) this engine does not know: {', '.join(extra)}")
        p.enable_hr = True
        if "scale" in hires:
            p.hr_scale = _float(hires["scale"], "hires.scale")
        if "width" in hires or "height" in hires:
            p.hr_resize = (_int(hires.get("width", 0), "hires.width"), _int(hires.get("height", 0), "hires.height"))
        p.hr_steps = _int(hires.get("steps", 0), "hires.steps")
        if "denoise" in hires:
            p.denoising_strength = _float(hires["denoise"], "hires.denoise")
        if "upscaler" in hires:
            p.hr_upscaler = str(hires["upscaler"])
        if "scheduler" in hires:
            from ....registry import get_registry  # lazy: only hires files name a second scheduler

            entry = get_registry().find_scheduler(hires["scheduler"])
            p.hr_sampler, p.hr_schedule_type = _pair(entry, "hires sampler")

    for key, value in semantics.get("options", {}).items():
        field_name, convert = OPTIONS[key]
        setattr(p, field_name, convert(key, value))
    return p


def missing_inputs(resolved, **given) -> list[str]:
    """What the user's folders lack for this syntax (LoRA files, VAE, embeddings folder),
    each named, without loading a model; [] when everything is there."""
    from . import lora  # lazy: lora.py needs torch for merging

    where = folders(**given)
    missing = []
    library = lora.LoraLibrary(where["lora_dir"])
    hashes = {x["name"]: x.get("hash") for x in resolved.extensions.get("lora", []) if isinstance(x, dict)}
    for name in dict.fromkeys(lora_names_in(resolved.prompt)):
        try:
            library.resolve(name, hashes.get(name))
        except ModelUnavailable as e:
            missing.append(str(e.args[0]))
    vae = resolved.extensions.get("vae")
    if isinstance(vae, dict) and (vae.get("name") or vae.get("hash")):
        from .vae import find_vae  # lazy: as above

        try:
            find_vae(where["vae_dir"], vae.get("name"), vae.get("hash"))
        except ModelUnavailable as e:
            missing.append(str(e.args[0]))
    embeddings = resolved.extensions.get("embeddings")
    if embeddings and (where["embeddings_dir"] is None or not where["embeddings_dir"].is_dir()):
        names = ", ".join(x.get("name", "?") for x in embeddings)
        missing.append(f"textual-inversion embedding(s) {names}: no embeddings folder ({FOLDER_ENV['embeddings_dir']})")
    return missing


# -- the model, once per process -------------------------------------------------------------
_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def model_folder(entry, allow_download: bool = False) -> Path:
    """The diffusers folder of a registry entry: embedded/local folders as they are, hub
    repos from the local Hugging Face cache (downloaded only when allowed)."""
    from ...pipelines import describe, downloads_allowed, how_to_get  # lazy: pipelines is heavy on import paths

    pipe = entry.pipeline
    if pipe.get("source") != "hub":
        if entry.source_dir is None or not Path(entry.source_dir).is_dir():
            raise ModelUnavailable(f"model {describe(entry)}: folder not found; {how_to_get(entry)}", model=entry.name)
        return Path(entry.source_dir)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(pipe.get("repo", ""), revision=pipe.get("revision") or None,
                                      local_files_only=not downloads_allowed(allow_download)))
    except Exception as e:  # not cached / no network: the weights are not available
        raise ModelUnavailable(f"weights of model {describe(entry)} are not available: {how_to_get(entry)} "
                               f"[{type(e).__name__}]", model=entry.name) from None


# The model families whose architecture these engines load (one CLIP text encoder, an
# eps/v UNet over the LDM schedule, a KL VAE).  SDXL's two encoders and size conditioning,
# SD2's OpenCLIP layer choice, SD3/Flux flow matching are not built yet: refused by name
# before any weights are read, never run through the SD1 code into a wrong picture.
ENGINE_FAMILIES = frozenset({"sd1"})


def check_family(entry, engine: str) -> None:
    family = getattr(entry, "family", None)
    if family not in ENGINE_FAMILIES:
        raise UnsupportedFeature(
            f"model {entry.name!r} is of the {family or 'unknown'} family; the {engine} engine regenerates "
            f"{', '.join(sorted(ENGINE_FAMILIES))} models only so far"
        )


def _cache_key(entry, device, loader_name: str = "A1111Model.from_pretrained") -> tuple:
    return entry.name, entry.id, str(device), loader_name


def load_model(entry, device: str = "cpu", allow_download: bool = False, folder: Path | None = None,
               loader=None):
    """The entry's diffusers components, loaded once per process and device.  `loader`
    (folder, device=, name=) -> model: A1111Model.from_pretrained unless another engine's
    layout is wanted (the ComfyUI engine's SDXL loader)."""
    from .engine import A1111Model  # lazy: torch

    loader = loader or A1111Model.from_pretrained
    key = _cache_key(entry, device, loader.__qualname__)
    with _LOCK:
        if key not in _MODELS:
            from ..._quiet import quiet_libraries  # lazy: as above

            folder = folder or model_folder(entry, allow_download)
            with quiet_libraries():
                _MODELS[key] = loader(folder, device=device, name=entry.name)
        return _MODELS[key]


def generate(resolved, *, allow_download=False, device="cpu", dtype=None, threads=None, attention=None,
             progress=None, cache=None, **given) -> tuple:
    """-> (PIL.Image RGB, Platform), like aigif.diffusion.generate."""
    if dtype not in (None, "float32"):
        raise UnsupportedFeature(f"the A1111 engine runs float32 only, not {dtype}")
    if attention not in (None, "default", "sdpa"):
        raise UnsupportedFeature(f"attention {attention!r}: the A1111 engine uses the UNet's default attention")
    check_family(resolved.model, "A1111")
    params = to_params(resolved)
    missing = missing_inputs(resolved, **given)
    folder = None
    if _cache_key(resolved.model, device) not in _MODELS:
        try:
            folder = model_folder(resolved.model, allow_download)
        except ModelUnavailable as e:
            missing.insert(0, str(e.args[0]))
    if missing:
        raise ModelUnavailable("cannot regenerate with the A1111 engine: " + "; ".join(missing), missing=missing,
                               model=resolved.model.name)
    from ..._stack import import_stack  # lazy: torch
    from ...determinism import apply_determinism, thread_count  # lazy: torch
    from ...platform import capture_platform  # lazy: torch
    from .engine import A1111Engine  # lazy: torch

    torch, _diffusers = import_stack()
    model = load_model(resolved.model, device, allow_download, folder)
    where = folders(**given)
    engine = A1111Engine(model, lora_dir=where["lora_dir"], embeddings_dir=where["embeddings_dir"], vae_dir=where["vae_dir"])
    apply_determinism(torch, device)
    with thread_count(torch, threads) as used_threads, _progress(model, params, progress):
        result = engine.generate(params)
        platform = capture_platform(model, device, "float32", used_threads, "default")
    from PIL import Image

    return Image.fromarray(result.image, "RGB"), platform


class _progress:
    """Reports UNet calls as steps (cond and uncond go through the UNet in one call)."""

    def __init__(self, model, params, callback):
        self.callback, self.model, self.handle, self.done = callback, model, None, 0
        from .schedules import sampler_spec  # lazy: torch

        def calls(sampler, steps):
            return steps * 2 if sampler_spec(sampler).second_order else steps

        self.total = calls(params.sampler, params.steps)
        if params.enable_hr:
            hr_steps = params.hr_steps or params.steps
            self.total += calls(params.hr_sampler or params.sampler, hr_steps)

    def _hook(self, *_args):
        self.done += 1
        self.callback(min(self.done, self.total), self.total)

    def __enter__(self):
        if self.callback is not None:
            self.handle = self.model.unet.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        if self.handle is not None:
            self.handle.remove()
        return False
