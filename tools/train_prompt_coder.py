#!/usr/bin/env python3
"""Train the prompt-coder tables (text codecs 2 and 3) from the shared prompt corpora.

    nice -n 10 python tools/train_prompt_coder.py [--data DIR] [--out aigif/promptcoder/data]

Deterministic: the same corpora give byte-identical model files.  The train/held-out
split is a hash split (sha256 of the prompt, 1 in 10 held out) and every prompt of
records/dev.jsonl is excluded from training, since the acceptance benchmark runs on it.
The corpora themselves are never written out: only counts of pieces that survive the
pruning thresholds below, i.e. statistics, end up in the model file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from aigif.promptcoder.tokenize import pieces  # noqa: E402


def shared_data_dir() -> Path:
    return Path(os.environ.get("AIGIF_SHARED_DATA", REPO.parent / "shared" / "data"))


def is_held_out(prompt: str) -> bool:
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big") % 10 == 0


def _lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        # The corpora write a newline inside a prompt as the two characters \n.
        return [line.rstrip("\n").replace("\\n", "\n") for line in f if line.strip()]


def load_corpora(data: Path) -> dict[str, list[str]]:
    """Distinct prompts per corpus, in file order (dev.jsonl prompts removed)."""
    prompts = data / "prompts"
    dev = {json.loads(line)["prompt"] for line in open(data / "records" / "dev.jsonl", encoding="utf-8")}
    discord = _lines(prompts / "discord-2022.txt")
    for line in open(prompts / "discord-2022-records.jsonl", encoding="utf-8"):
        discord.append(json.loads(line)["prompt"])
    fragments = []
    for path in sorted((prompts / "fragments").rglob("*.txt")):
        fragments.extend(_lines(path))
    corpora = {
        "discord": discord,
        "civitai": _lines(prompts / "civitai-2023.txt"),
        "negative": _lines(prompts / "negative.txt"),
        "fragments": fragments,
    }
    out = {}
    for name, items in corpora.items():
        seen: set[str] = set()
        kept = []
        for p in items:
            if p and p not in seen and p not in dev:
                seen.add(p)
                kept.append(p)
        out[name] = kept
    return out


def split(corpora: dict[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    train, held = {}, {}
    for name, items in corpora.items():
        if name == "fragments":  # word lists, not prompts: train only
            train[name], held[name] = items, []
            continue
        train[name] = [p for p in items if not is_held_out(p)]
        held[name] = [p for p in items if is_held_out(p)]
    return train, held


def training_prompts(data: Path | None = None) -> list[str]:
    """The training split, all corpora concatenated (used by bench/ for the zstd dictionary)."""
    train, _ = split(load_corpora(data or shared_data_dir()))
    return [p for name in ("discord", "civitai", "negative", "fragments") for p in train[name]]


def held_out_prompts(data: Path | None = None) -> dict[str, list[str]]:
    _, held = split(load_corpora(data or shared_data_dir()))
    return held
