"""Which syntax extensions the diffusers path honours, as extra pipeline arguments.

A critical extension changes the pixels, so one that cannot be honoured exactly is
refused with UnsupportedFeature naming it; ancillary ones (source, comment, unmapped)
carry no generation meaning and are ignored.  Never silently drop a critical one.
"""

from __future__ import annotations

import inspect

from ..errors import InvalidSyntax, UnsupportedFeature
from ..extensions import BY_NAME, RawExtension
# pipeline_args keys passed straight to the pipeline call: plain numbers whose meaning
# is the diffusers argument of the same name.
PIPELINE_ARGS = frozenset({"guidance_rescale"})


def pipeline_kwargs(extensions: dict, pipe, scheduler) -> tuple[dict, int]:
    """Extra pipeline-call kwargs for `extensions`, and the batch index of the image to keep.

    Raises UnsupportedFeature listing every critical extension that cannot be honoured.
    """
    kwargs: dict = {}
    batch_index = 0
    refused: list[str] = []
    for name, value in extensions.items():
        if not _is_critical(name, value):
            continue
        if name == "clip_skip":
            kwargs["clip_skip"] = _clip_skip(value, pipe)
        elif name == "eta":
            if "eta" not in inspect.signature(scheduler.step).parameters:
                refused.append(f"eta (scheduler {type(scheduler).__name__} has no eta; diffusers applies it to DDIM/DDPM only)")
                continue
            kwargs["eta"] = float(_number(value, "eta"))
        elif name == "batch":
            size, batch_index = _batch(value)
            kwargs["num_images_per_prompt"] = size
        elif name == "pipeline_args":
            unknown = sorted(set(value) - PIPELINE_ARGS) if isinstance(value, dict) else ["<not a dict>"]
            if unknown:
                refused.append(f"pipeline_args {unknown}")
                continue
            for key in value:
                kwargs[key] = float(_number(value[key], f"pipeline_args.{key}"))
        else:
            # lora, hires, refiner, img2img, ... and unknown critical extensions need
            # inputs or passes this package does not implement.
            refused.append(name)
    if refused:
        raise UnsupportedFeature(
            "this generator cannot honour critical extension(s): " + ", ".join(refused),
            extensions=refused,
        )
    return kwargs, batch_index


def _is_critical(name: str, value) -> bool:
    if isinstance(value, RawExtension):
        return value.critical
    known = BY_NAME.get(name)
    return known is None or known.critical  # an unknown name is treated as critical: safe side


def _number(value, what: str):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidSyntax(f"{what} must be a number, not {value!r}")
    return value


def _clip_skip(value, pipe) -> int | None:
    """A1111 counts from 1 = last layer; diffusers counts layers skipped (None = last)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSyntax(f"clip_skip must be an integer >= 1, not {value!r}")
    skipped = value - 1
    encoder = getattr(pipe, "text_encoder", None) or getattr(pipe, "text_encoder_2", None)
    layers = getattr(getattr(encoder, "config", None), "num_hidden_layers", None)
    if layers is not None and skipped >= layers - (1 if hasattr(pipe, "text_encoder_2") else 0):
        raise UnsupportedFeature(f"clip_skip {value} is deeper than this model's {layers}-layer text encoder")
    if "clip_skip" not in inspect.signature(pipe.__call__).parameters:
        raise UnsupportedFeature(f"clip_skip: {type(pipe).__name__} has no clip_skip argument")
    return skipped or None


def _batch(value) -> tuple[int, int]:
    size = value.get("size", 1) if isinstance(value, dict) else None
    index = value.get("index", 0) if isinstance(value, dict) else None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, index)) or not 0 <= index < size:
        raise InvalidSyntax(f"batch must be {{size >= 1, 0 <= index < size}}, not {value!r}")
    return size, index
