"""A1111's VAE override ("VAE" / "VAE hash" in the infotext) from the user's VAE folder.

A1111 writes the file name ("VAE: name.safetensors" or the stem) and "VAE hash", the
AutoV2 hash (sha256 of the whole file, first 10 hex).  A file is matched by name, stem
or hash prefix (8 hex: the legacy model hash).  Only .safetensors files (LDM layout, as
A1111 loads them, converted to diffusers' layout by diffusers' own converter) and diffusers
folders (config.json + weights) are read; pickled .pt/.ckpt VAEs are refused.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from ....errors import FileAccessError, ModelUnavailable, UnsupportedFeature
from .lora import legacy_model_hash, sha256_file
from .... import limits



def _candidates(directory: Path):
    found = []
    for root, dirs, names in os.walk(directory):
        for name in sorted(names):
            if name.lower().endswith((".safetensors", ".pt", ".ckpt", ".bin")):
                found.append(Path(root) / name)
        for name in sorted(dirs):
            if (Path(root) / name / "config.json").is_file():
                found.append(Path(root) / name)
        if len(found) > limits.MAX_VAE_FOLDER_FILES:
            break
    return found


def find_vae(directory, name: str | None, vae_hash: str | None) -> Path:
    where = Path(directory) if directory else None
    found = _candidates(where) if where is not None and where.is_dir() else []
    for path in found:
        if name and name in (path.name, path.stem):
            return path
    if vae_hash:
        want = vae_hash.strip().lower()
        for path in found:
            if path.is_file() and (sha256_file(path).startswith(want) or legacy_model_hash(path) == want):
                return path
    raise ModelUnavailable(f"VAE {name or ''}{' hash ' + vae_hash if vae_hash else ''} not found in "
                           f"{where or 'no VAE folder configured'}", vae=name, hash=vae_hash)


def load_vae(directory, name: str | None, vae_hash: str | None, like):
    """The override VAE, shaped like the model's own (`like`, a diffusers AutoencoderKL)."""
    from diffusers import AutoencoderKL

    path = find_vae(directory, name, vae_hash)
    device = next(like.parameters()).device
    if path.is_dir():
        return AutoencoderKL.from_pretrained(str(path), local_files_only=True).eval().to(device)
    if path.suffix.lower() != ".safetensors":
        raise UnsupportedFeature(f"VAE {path.name}: only .safetensors or diffusers folders are read (never pickles)")
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
    except Exception as exc:
        raise FileAccessError(f"VAE {path.name}: unreadable safetensors ({exc})") from None
    if not any(k.startswith("encoder.down_blocks") or k.startswith("decoder.up_blocks") for k in state):
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        state = convert_ldm_vae_checkpoint(state, dict(like.config))
    vae = copy.deepcopy(like)
    try:
        missing, unexpected = vae.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensors of other shapes: a VAE of another model family
        raise UnsupportedFeature(f"VAE {path.name} does not fit this model's VAE ({str(exc).splitlines()[0]})") from None
    if missing or unexpected:
        raise UnsupportedFeature(f"VAE {path.name} does not fit this model's VAE "
                                 f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    return vae.eval()
