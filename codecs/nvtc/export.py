"""Freeze a trained NVTC into shippable weights: fp16 transforms + integer coding tables.

Like CompressAI's update(): every number the entropy decoder depends on is computed
here once, as integers, and stored - the decoder never evaluates a prior network.

  tables.S.L.freq       int32 (rows, K): frequencies, each >= 1, each row sums to 2**16
                         rows = block positions (first coded layer, unconditional) or
                         parameter-table levels (conditional layers)
  tables.S.L.key_level  int32 (n_keys,): context key -> row of freq (conditional layers)

The prior networks (key embeddings, parameter table, MLPs, unconditional logits) are
training-only and are not shipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..learned_weights import write_weights
from .model import NVTC

FREQ_BITS = 16
FORMAT = "aigif-nvtc"
FORMAT_VERSION = "1"
TRAINING_ONLY = ("logits", "key_embed", "param_table", "prior_mlp")


def quantize_pmf(p: np.ndarray, total: int = 1 << FREQ_BITS) -> np.ndarray:
    """Float pmf rows -> int32 frequencies >= 1 summing exactly to total."""
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(axis=-1, keepdims=True)
    k = p.shape[-1]
    f = np.floor(p * (total - k)).astype(np.int64) + 1
    deficit = total - f.sum(axis=-1)
    rows = np.arange(f.reshape(-1, k).shape[0])
    flat = f.reshape(-1, k)
    flat[rows, flat.argmax(axis=-1)] += deficit.reshape(-1)
    assert (flat >= 1).all() and (flat.sum(-1) == total).all()
    return flat.reshape(f.shape).astype(np.int32)


@torch.no_grad()
def coding_tables(model: NVTC) -> dict[str, torch.Tensor]:
    out = {}
    for s, l in model.cfg.coding_order():
        vq = model.vq[s][l]
        if model.previous(s, l) is None:
            pmf = torch.softmax(vq.logits.double(), dim=-1).numpy()
            out[f"tables.{s}.{l}.freq"] = torch.from_numpy(quantize_pmf(pmf))
        else:
            _, level, _ = vq.snap_keys()
            pmf = torch.softmax(vq.prior_mlp(vq.param_table).double(), dim=-1).numpy()
            out[f"tables.{s}.{l}.freq"] = torch.from_numpy(quantize_pmf(pmf))
            out[f"tables.{s}.{l}.key_level"] = level.to(torch.int32)
    return out


def _write(model: NVTC, tables: dict, lmbda: float, rate: int, path: Path, train_info: dict) -> str:
    """fp16 transforms (the training-only priors left out) + integer `tables`, with the metadata of §4.5."""
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
               if not any(part in TRAINING_ONLY for part in k.split("."))}
    tensors.update(tables)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(model.cfg.to_dict()),
            "lmbda": repr(float(lmbda)), "rate_point": str(rate), "freq_bits": str(FREQ_BITS),
            "train": json.dumps(train_info)}
    return write_weights(path, tensors, meta)


def export_weights(model: NVTC, lmbda: float, rate: int, path: Path, *, train_info: dict) -> str:
    return _write(model, coding_tables(model), lmbda, rate, path, train_info)


def export_tuned(model: NVTC, logits: dict, key_level: dict, lmbda: float, rate: int, path: Path, *,
                 train_info: dict) -> str:
    """Weights tuned with table priors (tools/tune_nvtc.py): the prior is one logit row per
    table row, so each row's softmax is quantised directly; key_level is kept as given."""
    tables = {}
    for (s, l), rows in logits.items():
        pmf = torch.softmax(rows.double(), dim=-1).numpy()
        tables[f"tables.{s}.{l}.freq"] = torch.from_numpy(quantize_pmf(pmf))
        if (s, l) in key_level:
            tables[f"tables.{s}.{l}.key_level"] = key_level[(s, l)].to(torch.int32).contiguous()
    return _write(model, tables, lmbda, rate, path, train_info)
