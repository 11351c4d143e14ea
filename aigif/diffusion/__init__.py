"""Regeneration through diffusers (the `aigif[generate]` extra).

Importing this package is cheap and needs no torch: torch, diffusers and transformers
are imported on first use, and their absence is a MissingExtra naming the pip command.

    from aigif.diffusion import generate
    image, platform = generate(resolve(syntax))

What a syntax means to this generator (the choices a reimplementation must copy to get
the same bytes):
- noise: one CPU torch.Generator seeded with `seed`, passed to the pipeline;
- negative prompt "" is passed as None (diffusers' default; for SDXL zero embeddings);
- guidance is float(Decimal);
- scheduler: `diffusers_class.from_config(<the model's scheduler config>, **config)`;
  with no scheduler (inline models) the pipeline's own;
- clip_skip n (A1111: 1 = last layer) is diffusers' clip_skip = n - 1;
- eta goes to schedulers whose step() takes it (DDIM, DDPM), refused elsewhere;
- pipeline_args: only {"guidance_rescale": x}, passed as is; other keys are refused;
- batch {size, index}: one generator draws the whole batch (diffusers'
  num_images_per_prompt), image `index` is returned;
- pixels: output_type "np", then (x * 255).round() to uint8 (= diffusers' "pil").
"""

from __future__ import annotations

from .pipelines import PipelineCache, load_pipeline
from .platform import capture_platform
from .run import generate, generate_array
from .weights import FingerprintCheck, check_fingerprints, hash_local_weights

__all__ = [
    "FingerprintCheck",
    "PipelineCache",
    "capture_platform",
    "check_fingerprints",
    "generate",
    "generate_array",
    "hash_local_weights",
    "load_pipeline",
]
