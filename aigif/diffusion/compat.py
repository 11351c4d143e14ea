"""Shims for known version mismatches between diffusers and transformers.

Each shim is applied only when the mismatch is detected, so it becomes a no-op once the
libraries agree again; remove one when the oldest supported versions no longer need it.
"""

from __future__ import annotations

from types import SimpleNamespace


def patch_pipeline(pipe) -> None:
    _flattened_clip_text_model(pipe)


def _flattened_clip_text_model(pipe) -> None:
    """diffusers 0.42's StableDiffusionPipeline applies clip_skip through
    `text_encoder.text_model.final_layer_norm`; transformers 5 flattened CLIPTextModel so
    that layer sits on the model itself, which makes every clip_skip call raise
    AttributeError.  Expose the same module under the old path.  object.__setattr__ keeps
    it out of nn.Module's registry (no second parameter path, no module cycle)."""
    for name in ("text_encoder", "text_encoder_2"):
        encoder = getattr(pipe, name, None)
        if encoder is None or hasattr(encoder, "text_model") or not hasattr(encoder, "final_layer_norm"):
            continue
        object.__setattr__(encoder, "text_model", SimpleNamespace(final_layer_norm=encoder.final_layer_norm))
