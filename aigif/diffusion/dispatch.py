"""Which engine regenerates a syntax: its generation semantics (extension 17, spec §7.1.1).

absent / "diffusers" -> aigif.diffusion.run (the diffusers pipelines);
"a1111"              -> aigif.diffusion.engines.a1111 (A1111 v1.10 semantics);
anything else        -> UnsupportedFeature (E_FEATURE) naming the engine.
"""

from __future__ import annotations

import dataclasses

from ..errors import UnsupportedFeature
from ..extensions import DEFAULT_ENGINE, engine_of

ENGINES = ("diffusers", "a1111")
FOLDER_OPTIONS = ("lora_dir", "embeddings_dir", "vae_dir")  # the A1111 engine's user folders


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
    if engine == "a1111":
        from .engines.a1111 import from_syntax  # lazy: the A1111 engine loads torch

        return from_syntax.generate(resolved, **options)
    raise UnsupportedFeature(
        f"generation semantics {engine!r}: this generator implements {', '.join(ENGINES)} only", engine=engine
    )


def missing_inputs(resolved, **options) -> list[str]:
    """Inputs besides the model that the engine would need and the user's folders lack."""
    if engine_of(resolved.extensions) == "a1111":
        from .engines.a1111 import from_syntax  # lazy: as above

        return from_syntax.missing_inputs(resolved, **{k: v for k, v in options.items() if k in FOLDER_OPTIONS})
    return []
