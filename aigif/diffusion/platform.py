"""What actually ran a generation, as an aigif.syntax.Platform (spec §5.4)."""

from __future__ import annotations

from ..syntax import Platform
from ._stack import device_kind


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except ImportError:
        return ""
    return str(getattr(module, "__version__", ""))


def _attention_in_use(pipe, mode: str) -> str:
    """The attention actually used: a forced mode is exact; otherwise inspect the UNet's
    processors (AttnProcessor2_0 = torch SDPA with the dispatcher free to choose)."""
    if mode in ("math", "flash", "xformers"):
        return mode
    unet = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    processors = getattr(unet, "attn_processors", None) if unet is not None else None
    if not processors:
        return "default"
    names = {type(p).__name__ for p in processors.values()}
    if names == {"AttnProcessor2_0"}:
        return "sdpa"
    if names and all("XFormers" in n for n in names):
        return "xformers"
    return "other"


def capture_platform(pipe, device: str, dtype: str, threads: int | None, attention: str | None) -> Platform:
    import torch

    kind = device_kind(device)
    gpu = ""
    if kind == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    return Platform(
        device=kind,
        dtype=dtype,
        attention=_attention_in_use(pipe, (attention or "default").lower()),
        deterministic=bool(torch.are_deterministic_algorithms_enabled()),
        threads=threads if threads is not None else torch.get_num_threads(),
        torch=_version("torch"),
        diffusers=_version("diffusers"),
        transformers=_version("transformers"),
        gpu=gpu[:255],
    )
