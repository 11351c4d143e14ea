"""Process settings that make a pipeline call repeatable, and the attention choice.

Reproducibility contract (FIELD-NOTES §3): all noise comes from a CPU torch.Generator;
deterministic algorithms on; TF32 and cuDNN autotuning off; cuBLAS given a fixed
workspace.  These are process-global torch switches, so they are applied on every call
rather than saved and restored: another library turning them off again between two
AIGIF calls must not make the second call differ.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import InvalidSyntax
from ..syntax import ATTENTIONS
from ._stack import device_kind

# spec §5.4's attention names (aigif.syntax), less "other", which no run can ask for
ATTENTION_MODES = tuple(a for a in ATTENTIONS if a != "other")


def apply_determinism(torch, device: str) -> None:
    if device_kind(device) == "cuda":
        # Read by cuBLAS when a handle is created; setdefault keeps a user's stricter
        # ":4096:8" choice.  Must precede the first cuBLAS call to take effect.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


@contextlib.contextmanager
def thread_count(torch, threads: int | None):
    """Run with `threads` intra-op threads, then restore: float output depends on it
    (FIELD-NOTES §3), so it is set per call and recorded in the Platform."""
    if threads is None:
        yield torch.get_num_threads()
        return
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise InvalidSyntax(f"threads must be a positive integer, not {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def normalise_attention(attention: str | None) -> str:
    mode = (attention or "default").lower()
    if mode not in ATTENTION_MODES:
        raise InvalidSyntax(f"attention {attention!r} is not one of {', '.join(ATTENTION_MODES)}", attention=attention)
    return mode


def attention_context(torch, mode: str):
    """Context manager forcing the scaled-dot-product backend.

    "math" and "flash" keep diffusers' default AttnProcessor2_0 (which calls
    F.scaled_dot_product_attention) and restrict torch's SDPA dispatcher to that single
    backend with torch.nn.attention.sdpa_kernel, so the choice really binds: if the
    backend cannot run these inputs torch raises instead of silently falling back.
    "default"/"sdpa" leave the dispatcher free; "xformers" is set on the pipeline at
    load time (see pipelines.py), so nothing to do per call.
    """
    if mode in ("default", "sdpa", "xformers"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION}[mode]
    return sdpa_kernel([backend])
