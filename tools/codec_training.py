"""What the learned-codec training scripts (train_nvtc.py, train_omni.py) share: the
codec package from the source tree when it is not installed, and checkpoints of a model
and its Adam state as safetensors + JSON (no pickle), each written atomically so an
interrupted run resumes from the last complete checkpoint."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ensure_codecs_importable() -> None:
    """`import aigif_codecs` works from a plain checkout (the package is codecs/ on disk)."""
    try:
        import aigif_codecs  # noqa: F401
    except ImportError:  # not installed: use the source tree
        import importlib.util

        spec = importlib.util.spec_from_file_location("aigif_codecs", REPO / "codecs" / "__init__.py",
                                                      submodule_search_locations=[str(REPO / "codecs")])
        mod = importlib.util.module_from_spec(spec)
        sys.modules["aigif_codecs"] = mod
        spec.loader.exec_module(mod)


def save_ckpt(run: Path, model, opt, meta: dict) -> None:
    """run/ckpt.safetensors (weights, Adam moments) and run/state.json (meta, Adam steps)."""
    from safetensors.torch import save_file

    run.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                n = names[id(p)]
                tensors[f"adam.{n}.exp_avg"] = st["exp_avg"].contiguous()
                tensors[f"adam.{n}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
                meta.setdefault("adam_step", {})[n] = float(st["step"])
    tmp = run / "ckpt.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, run / "ckpt.safetensors")
    tmpj = run / "state.json.tmp"
    tmpj.write_text(json.dumps(meta, indent=1))
    os.replace(tmpj, run / "state.json")


def load_ckpt(run: Path, model, opt=None) -> dict:
    """Load what save_ckpt wrote into `model` (and `opt`, when given); returns the meta."""
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(run / "ckpt.safetensors"))
    meta = json.loads((run / "state.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if opt is not None and "adam_step" in meta:
        for n, p in model.named_parameters():
            if f"adam.{n}.exp_avg" in tensors:
                opt.state[p] = {"step": torch.tensor(meta["adam_step"][n]),
                                "exp_avg": tensors[f"adam.{n}.exp_avg"],
                                "exp_avg_sq": tensors[f"adam.{n}.exp_avg_sq"]}
    return meta
