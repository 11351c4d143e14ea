"""Regeneration through diffusers (the `aigif[generate]` extra).

Importing this package is cheap and needs no torch: torch, diffusers and transformers
are imported on first use, and their absence is a MissingExtra naming the pip command.

    from aigif.generate import generate
    image, platform = generate(syntax.resolve())
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
