"""LoRA as A1111 v1.10's built-in Lora extension applies it (extensions-builtin/Lora:
networks.py, network.py, network_lora.py, lyco_helpers.py), onto diffusers modules.

Finding the file (A1111's names for the hashes):
- by name: the file's stem, or the `ss_output_name` alias in its safetensors metadata;
- by hash, as infotexts record them: "Lora hashes" gives AutoV3 = sha256 of the
  safetensors *tensor data* (everything after the 8-byte header length and the JSON
  header), first 12 hex; Civitai also quotes AutoV2 = sha256 of the whole file, first 10
  hex; the legacy "model hash" is sha256 of the 64 KiB at offset 1 MiB, first 8 hex.
Only .safetensors files are read (A1111 also loads pickled .pt/.ckpt: refused, never
unpickled).  A name or hash with no file is refused naming it.

Applying: for every module with `lora_up.weight` / `lora_down.weight` (or `lora_A` /
`lora_B`), A1111 merges into the module's weight
    weight += (up.reshape(out, -1) @ down.reshape(rank, -1)).reshape(shape) * scale * multiplier
with scale = alpha / rank (1.0 without alpha; a stored `scale` wins), the multiplier of
`<lora:name:w>` (text-encoder and UNet parts alike), in the weight's dtype on its device
(float32 on the CPU, where this engine runs: the same float32 ops in the same order, so
the merged weights are bit-identical to A1111's on CPU).  Several LoRAs are added one
after the other, in prompt order.

Key naming: A1111 converts kohya's names (lora_unet_down_blocks_0_attentions_0_proj_in,
lora_te_text_model_encoder_layers_0_self_attn_q_proj) to its CompVis module names; those
names *are* the diffusers module paths with '.' written '_', so here they are matched
against the diffusers UNet and CLIP text model directly.  A key that matches no module
is refused (A1111 logs and skips it; skipping silently here could hide a wrong mapping).
LyCORIS types (LoHa, LoKr, IA3, OFT, GLoRA, full, norm), DoRA, mid (CP) weights and
CompVis-named keys are refused, naming the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch

from ....errors import FileAccessError, InvalidSyntax, LimitExceeded, ModelUnavailable, UnsupportedFeature
from .... import limits

_BLOCK = 1 << 20
SUFFIXES = (".safetensors",)
REFUSED_SUFFIXES = (".pt", ".ckpt", ".bin", ".pth")
_UNSUPPORTED_PARTS = ("hada_", "lokr_", "oft_", "diag", "dora_scale", "lora_mid", "a1.weight", "w_norm", "on_input",
                      ".diff", "b_norm", "gate")


# -- hashes -----------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_BLOCK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def autov3(path: str | os.PathLike) -> str:
    """A1111's addnet_hash_safetensors (full hex; A1111 shows the first 12)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        header = f.read(8)
        if len(header) < 8:
            raise FileAccessError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", header)
        f.seek(n + 8)
        for chunk in iter(lambda: f.read(_BLOCK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def legacy_model_hash(path: str | os.PathLike) -> str:
    """sd_models.model_hash: sha256 of 0x10000 bytes at 0x100000, first 8 hex."""
    with open(path, "rb") as f:
        f.seek(0x100000)
        return hashlib.sha256(f.read(0x10000)).hexdigest()[:8]


def safetensors_metadata(path: str | os.PathLike) -> dict:
    with open(path, "rb") as f:
        header = f.read(8)
        if len(header) < 8:
            raise FileAccessError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", header)
        if n > limits.MAX_SAFETENSORS_HEADER_BYTES:
            raise LimitExceeded(f"{path}: safetensors header of {n} bytes")
        try:
            parsed = json.loads(f.read(n))
        except ValueError as exc:
            raise FileAccessError(f"{path}: unreadable safetensors header ({exc})") from None
    meta = parsed.get("__metadata__") if isinstance(parsed, dict) else None
    return meta if isinstance(meta, dict) else {}


@dataclass
class LoraFile:
    path: Path
    _hashes: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def alias(self) -> str:
        alias = safetensors_metadata(self.path).get("ss_output_name")
        return alias if isinstance(alias, str) and alias else self.name

    def hashes(self) -> dict[str, str]:
        if not self._hashes:
            self._hashes = {"sha256": sha256_file(self.path), "autov3": autov3(self.path),
                            "legacy": legacy_model_hash(self.path)}
        return self._hashes

    @property
    def shorthash(self) -> str:
        """What A1111 writes into "Lora hashes"."""
        return self.hashes()["autov3"][:12]

    def matches_hash(self, value: str) -> bool:
        value = value.strip().lower()
        if len(value) < 8 or any(c not in "0123456789abcdef" for c in value):
            return False
        h = self.hashes()
        if len(value) == 8 and h["legacy"] == value:
            return True
        return h["autov3"].startswith(value) or h["sha256"].startswith(value)


class LoraLibrary:
    """The user's LoRA folder (searched recursively, as A1111 lists its Lora directory)."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory else None
        self._files: list[LoraFile] | None = None

    def files(self) -> list[LoraFile]:
        if self._files is None:
            found: list[LoraFile] = []
            if self.directory is not None and self.directory.is_dir():
                for root, _dirs, names in os.walk(self.directory):
                    for name in sorted(names):
                        if name.lower().endswith(SUFFIXES):
                            found.append(LoraFile(Path(root) / name))
                            if len(found) > limits.MAX_LORA_FOLDER_FILES:
                                raise LimitExceeded(f"more than {limits.MAX_LORA_FOLDER_FILES} LoRA files under {self.directory}")
            self._files = found
        return self._files

    def resolve(self, name: str, hash_hint: str | None = None) -> LoraFile:
        """The file for `<lora:name:...>`: by stem, then alias, then by the recorded hash."""
        files = self.files()
        for pick in (lambda f: f.name == name, lambda f: f.alias == name):
            matches = [f for f in files if pick(f)]
            if matches:
                chosen = matches[0]
                if hash_hint and not chosen.matches_hash(hash_hint):
                    by_hash = [f for f in files if f.matches_hash(hash_hint)]
                    if by_hash:
                        return by_hash[0]
                return chosen
        if hash_hint:
            matches = [f for f in files if f.matches_hash(hash_hint)]
            if matches:
                return matches[0]
        where = str(self.directory) if self.directory else "no LoRA folder configured"
        refused = ""
        if self.directory is not None and self.directory.is_dir():
            stems = [p for p in self.directory.rglob(f"{name}.*") if p.suffix.lower() in REFUSED_SUFFIXES]
            if stems:
                refused = f" ({stems[0].name} exists but pickled weights are never loaded)"
        hint = f", hash {hash_hint}" if hash_hint else ""
        raise ModelUnavailable(f"LoRA {name!r}{hint} not found: expected {name}.safetensors in {where}{refused}",
                               lora=name, hash=hash_hint)


# -- loading and merging ----------------------------------------------------------------
@dataclass
class LoraModule:
    key: str            # the kohya key stem, e.g. lora_unet_down_blocks_1_attentions_0_proj_in
    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None
    scale: float | None

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    def calc_scale(self) -> float:
        if self.scale is not None:
            return self.scale
        if self.alpha is not None:
            return self.alpha / self.rank
        return 1.0


def load_lora_modules(path: str | os.PathLike) -> list[LoraModule]:
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise UnsupportedFeature(f"LoRA {path.name}: only .safetensors files are read (never pickles)")
    size = path.stat().st_size
    if size > limits.MAX_LORA_FILE_BYTES:
        raise LimitExceeded(f"LoRA {path.name} is {size} bytes, over {limits.MAX_LORA_FILE_BYTES}")
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise FileAccessError(f"LoRA {path.name}: unreadable safetensors ({exc})") from None
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for full_key, tensor in tensors.items():
        stem, _, suffix = full_key.partition(".")
        groups.setdefault(stem, {})[suffix] = tensor
    modules = []
    for stem, parts in sorted(groups.items()):
        if any(marker in suffix for suffix in parts for marker in _UNSUPPORTED_PARTS):
            raise UnsupportedFeature(f"LoRA {path.name}: {stem} is not a plain LoRA (LyCORIS/DoRA/CP parts: "
                                     f"{', '.join(sorted(parts))})", lora=path.name)
        if "lora_A.weight" in parts and "lora_B.weight" in parts:
            parts = {**parts, "lora_up.weight": parts["lora_B.weight"], "lora_down.weight": parts["lora_A.weight"]}
        if "lora_up.weight" not in parts or "lora_down.weight" not in parts:
            raise UnsupportedFeature(f"LoRA {path.name}: {stem} has {', '.join(sorted(parts))}, not lora_up/lora_down",
                                     lora=path.name)
        alpha = float(parts["alpha"].item()) if "alpha" in parts else None
        scale = float(parts["scale"].item()) if "scale" in parts else None
        modules.append(LoraModule(stem, parts["lora_up.weight"], parts["lora_down.weight"], alpha, scale))
    return modules


def module_table(unet, text_encoder) -> dict[str, tuple[torch.nn.Module, str]]:
    """kohya key stem -> (module, "unet" | "te") for the diffusers modules LoRA can target."""
    table: dict[str, tuple[torch.nn.Module, str]] = {}
    kinds = (torch.nn.Linear, torch.nn.Conv2d)
    for prefix, model, part in (("lora_unet_", unet, "unet"), ("lora_te_", text_encoder, "te")):
        if model is None:
            continue
        for name, module in model.named_modules():
            if isinstance(module, kinds):
                table[prefix + name.replace(".", "_")] = (module, part)
                if part == "te" and not name.startswith("text_model."):
                    table[prefix + "text_model_" + name.replace(".", "_")] = (module, part)
    return table


def lora_updown(lora: LoraModule, weight: torch.Tensor, multiplier: float) -> torch.Tensor:
    """A1111's NetworkModuleLora.calc_updown + finalize_updown for one module."""
    up = lora.up.to(weight.device, dtype=weight.dtype)
    down = lora.down.to(weight.device, dtype=weight.dtype)
    if weight.dim() == 4 and up.dim() == 2:
        up = up.reshape(up.shape[0], -1, 1, 1)
    if weight.dim() == 4 and down.dim() == 2:
        down = down.reshape(down.shape[0], -1, 1, 1)
    output_shape = [up.size(0), down.size(1)]
    if down.dim() == 4:
        output_shape += list(down.shape[2:])
    updown = (up.reshape(up.size(0), -1) @ down.reshape(down.size(0), -1)).reshape(output_shape)
    if len(output_shape) == 4:
        updown = updown.reshape(output_shape)
    if weight.size().numel() == updown.size().numel():
        updown = updown.reshape(weight.shape)
    updown = updown * lora.calc_scale()
    return updown * multiplier


@dataclass(frozen=True)
class LoraUse:
    name: str
    multiplier: float
    file: LoraFile


@contextmanager
def applied(unet, text_encoder, uses: Sequence[LoraUse]):
    """Merge the LoRAs into the models' weights for the duration of the block, then put
    the original weights back (bit for bit: the originals are kept, not subtracted)."""
    if len(uses) > limits.MAX_LORAS_PER_IMAGE:
        raise LimitExceeded(f"{len(uses)} LoRAs, over {limits.MAX_LORAS_PER_IMAGE}")
    table = module_table(unet, text_encoder)
    backups: dict[int, tuple[torch.nn.Module, torch.Tensor]] = {}
    try:
        with torch.no_grad():
            for use in uses:
                for lora in load_lora_modules(use.file.path):
                    target = table.get(lora.key)
                    if target is None:
                        raise UnsupportedFeature(f"LoRA {use.file.path.name}: key {lora.key} matches no module of this "
                                                 "model (CompVis-named or for another architecture)", lora=use.name)
                    module, _part = target
                    weight = module.weight
                    if lora.up.shape[0] != weight.shape[0] or lora.down.reshape(lora.rank, -1).shape[1] != \
                            weight.reshape(weight.shape[0], -1).shape[1]:
                        raise UnsupportedFeature(f"LoRA {use.file.path.name}: {lora.key} is shaped for another model "
                                                 f"(up {tuple(lora.up.shape)}, down {tuple(lora.down.shape)}, "
                                                 f"weight {tuple(weight.shape)})", lora=use.name)
                    backups.setdefault(id(module), (module, weight.detach().clone()))
                    updown = lora_updown(lora, weight, use.multiplier)
                    weight.copy_((weight.to(dtype=updown.dtype) + updown).to(dtype=weight.dtype))
        yield
    finally:
        with torch.no_grad():
            for module, original in backups.values():
                module.weight.copy_(original)


def resolve_all(library: LoraLibrary, loras: Iterable[tuple], hashes: dict[str, str] | None = None) -> list[LoraUse]:
    """[(name, weight)] (or (name, weight, hash)) -> LoraUse, refusing missing files."""
    uses = []
    hashes = hashes or {}
    for item in loras:
        if len(item) not in (2, 3):
            raise InvalidSyntax(f"a LoRA entry is (name, weight[, hash]), not {item!r}")
        name, weight = str(item[0]), float(item[1])
        hint = item[2] if len(item) == 3 and item[2] else hashes.get(name)
        uses.append(LoraUse(name, weight, library.resolve(name, hint)))
    return uses


def hashes_infotext(uses: Sequence[LoraUse]) -> str | None:
    """A1111's "Lora hashes" value: "name: shorthash, ..." (':' and ',' dropped from names)."""
    seen, parts = set(), []
    for use in uses:
        if use.name in seen:
            continue
        seen.add(use.name)
        parts.append(f"{use.name.replace(':', '').replace(',', '')}: {use.file.shorthash}")
    return ", ".join(parts) if parts else None
