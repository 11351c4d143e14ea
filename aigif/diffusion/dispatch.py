"""Which engine regenerates a syntax: its generation semantics (extension 17, spec §7.1.1).

absent / "diffusers" -> aigif.diffusion.run (the diffusers pipelines);
"a1111"              -> aigif.diffusion.engines.a1111 (A1111 v1.10 semantics);
"comfyui"            -> aigif.diffusion.engines.comfyui (its API graph, spec §7.1.2);
anything else        -> UnsupportedFeature (E_FEATURE) naming the engine.
"""

from __future__ import annotations

import dataclasses

from ..errors import ModelUnavailable, UnsupportedFeature
from ..extensions import DEFAULT_ENGINE, engine_of

ENGINES = ("diffusers", "a1111", "comfyui")
FOLDER_OPTIONS = ("lora_dir", "embeddings_dir", "vae_dir")  # the A1111 engine's user folders
# option -> (CLI flag, environment fallback): a refusal says how to give the folder
FOLDER_SOURCES = {"lora_dir": ("--lora-dir", "AIGIF_LORA_DIR"),
                  "embeddings_dir": ("--embeddings-dir", "AIGIF_EMBEDDINGS_DIR"),
                  "vae_dir": ("--vae-dir", "AIGIF_VAE_DIR")}
# how the engine's messages about a missing input begin -> the folder it is looked for in
_MISSING_KIND = (("LoRA ", "lora_dir"), ("VAE ", "vae_dir"), ("textual-inversion embedding", "embeddings_dir"))


def _diffusers_view(resolved):
    """The syntax as the diffusers path sees it: its semantics extension says nothing it
    can use beyond "diffusers"; options would be settings it does not have."""
    semantics = resolved.extensions.get("semantics")
    if semantics is None:
        return resolved
    if semantics.get("options"):
        keys = sorted(semantics["options"])
        raise UnsupportedFeature(f"diffusers semantics option(s) this generator does not know: {', '.join(keys)}", options=keys)
    rest = {k: v for k, v in resolved.extensions.items() if k != "semantics"}
    return dataclasses.replace(resolved, extensions=rest)


def generate(resolved, **options):
    """-> (PIL.Image RGB, Platform) by the engine the syntax's semantics name."""
    engine = engine_of(resolved.extensions)
    if engine == DEFAULT_ENGINE:
        from .run import generate as diffusers_generate  # lazy: keeps `import aigif.diffusion` free of torch paths

        options = {k: v for k, v in options.items() if k not in FOLDER_OPTIONS}
        return diffusers_generate(_diffusers_view(resolved), **options)
    if engine in ("a1111", "comfyui"):
        if engine == "a1111":
            from .engines.a1111 import from_syntax  # lazy: the A1111 engine loads torch
        else:
            from .engines.comfyui import from_syntax  # lazy: the ComfyUI engine loads torch

        try:
            return from_syntax.generate(resolved, **options)
        except ModelUnavailable as e:
            missing = e.details.get("missing")
            if not missing:
                raise
            message = e.args[0]
            for item, hinted in zip(missing, with_folder_hints(missing)):
                message = message.replace(item, hinted, 1)
            raise ModelUnavailable(message, **e.details) from None
    raise UnsupportedFeature(
        f"generation semantics {engine!r}: this generator implements {', '.join(ENGINES)} only", engine=engine
    )


def missing_inputs(resolved, **options) -> list[str]:
    """Inputs besides the model that the engine would need and the user's folders lack."""
    engine = engine_of(resolved.extensions)
    if engine in ("a1111", "comfyui"):
        if engine == "a1111":
            from .engines.a1111 import from_syntax  # lazy: as above
        else:
            from .engines.comfyui import from_syntax  # lazy: as above

        return with_folder_hints(from_syntax.missing_inputs(resolved, **{k: v for k, v in options.items() if k in FOLDER_OPTIONS}))
    return []


def with_folder_hints(missing: list[str]) -> list[str]:
    """Each missing LoRA / VAE / embedding with the flag and variable that give its folder."""
    out = []
    for item in missing:
        for prefix, option in _MISSING_KIND:
            if item.startswith(prefix):
                flag, env = FOLDER_SOURCES[option]
                item = f"{item} (give the folder with {flag} DIR or {env})"
                break
        out.append(item)
    return out
