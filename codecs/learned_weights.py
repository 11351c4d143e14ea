"""What the learned codecs (NVTC, Omni-ICM) share around their shipped weights: a
safetensors file is used only when its full sha256 is the one the zoo records, the model
is built from the config the file carries, and float work runs on one torch thread.
torch and safetensors are imported by the callers' `_imports()` (the `codecs` extra)."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path

from aigif.errors import CodecError


def read_checked(path: Path, expected_sha256: str, label: str):
    """(tensors, metadata, hex digest) of a weights file whose sha256 is `expected_sha256`;
    CodecError when the file is missing or is any other file."""
    from safetensors.torch import load

    if not path.is_file():
        raise CodecError(f"{label} weights are missing: {path}")
    blob = path.read_bytes()  # hashed and parsed from the same bytes: no swap in between
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected_sha256:
        raise CodecError(f"{label} weights {path.name} have sha256 {digest}, expected {expected_sha256}")
    # the metadata sits in the file's JSON header (8-byte little-endian length, then JSON);
    # the file is the one the zoo records, so the header is well formed
    header = json.loads(blob[8:8 + int.from_bytes(blob[:8], "little")])
    return load(blob), header.get("__metadata__", {}), digest


def build_model(model_cls, config_cls, tensors: dict, meta: dict, training_only, label: str):
    """model_cls(config from the file's "config" metadata) with the file's weights (not its
    "tables." entries); a parameter may be absent only when training_only(name) says it is
    used in training alone (its throwaway init is seeded, so a build is repeatable)."""
    import torch

    cfg = config_cls.from_dict(json.loads(meta["config"]))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = model_cls(cfg)
    params = {k: v.float() for k, v in tensors.items() if not k.startswith("tables.")}
    missing, unexpected = model.load_state_dict(params, strict=False)
    needed = [k for k in missing if not training_only(k)]
    if needed or unexpected:
        raise CodecError(f"{label} weights do not match the model: {needed[:3]} {unexpected[:3]}")
    model.eval()
    return model, cfg


def write_weights(path: Path, tensors: dict, meta: dict) -> str:
    """Write shipped weights atomically (a temporary file renamed over `path`), readable by
    all as package data; returns the sha256 the zoo records for them.  The same tensors and
    metadata always give the same bytes: safetensors writes its metadata map in hash order,
    so the JSON header is rewritten with sorted keys (same length, same data offsets)."""
    import os

    from safetensors.torch import save

    blob = save(tensors, metadata=meta)
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    # safetensors writes compact JSON with raw UTF-8: the same entries in another order are as long
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    assert len(text) <= n
    blob = blob[:8] + text + b" " * (n - len(text)) + blob[8 + n:]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return hashlib.sha256(blob).hexdigest()


@contextmanager
def one_thread(torch):
    """Float work with one intra-op thread: torch splits reductions (convolutions, einsums)
    by thread count, so 2 threads can round differently from 1. Pinning it makes the result
    the same whatever the caller's torch.set_num_threads (tested per codec)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
