"""Node types that patch a model family the ComfyUI engine does not run, and the refusal
that says so (no torch here: the graph interpreter and the syntax front end both use it).

ModelSamplingFlux / ModelSamplingSD3 / ModelSamplingAuraFlow put a flow-matching
model_sampling (ComfyUI's ModelSamplingFlux / ModelSamplingDiscreteFlow with CONST) in
place of the model's own; they mean nothing on the SD 1.x / SDXL checkpoints this engine
loads, so a graph with one is refused before any model is read, naming the family."""

from __future__ import annotations

from typing import Iterable

FAMILY_PATCHES = {"ModelSamplingFlux": "Flux", "ModelSamplingSD3": "SD3", "ModelSamplingAuraFlow": "AuraFlow"}


def family_reasons(node_types: Iterable[str]) -> list[str]:
    """One sentence per family patch among node_types (sorted by type)."""
    return [f"{name} needs the {FAMILY_PATCHES[name]} model family, which the ComfyUI engine does not run"
            for name in sorted(set(node_types)) if name in FAMILY_PATCHES]


def unsupported_message(node_types: Iterable[str]) -> str:
    names = sorted(set(node_types))
    reasons = family_reasons(names)
    return ("ComfyUI graph uses node types this engine cannot honour: " + ", ".join(names)
            + "".join(f"; {r}" for r in reasons))
