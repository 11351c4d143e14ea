"""Acceptance (issues 4 and 14): every prompt of the shared data round-trips through text
codecs 2, 3 and 6 exactly. About 7 minutes of CPU in all, in SHARDS tests so that each
stays well inside the per-test timeout on a slow CI machine; skipped with a reason when
the data is absent."""

import functools
import json

import pytest

from conftest import shared

from aigif.text import promptcoder
from aigif.text.promptcoder.rangecoder import PayloadBoundExceeded

SHARDS = 12


@functools.lru_cache(maxsize=1)
def _all_prompts() -> tuple[str, ...]:
    prompts = shared("prompts")
    texts = []
    for name in ("discord-2022.txt", "civitai-2023.txt", "negative.txt"):
        # one prompt per line; a newline inside a prompt is written as the two characters \n
        texts += [line.rstrip("\n").replace("\\n", "\n") for line in (prompts / name).open(encoding="utf-8")]
    for path in (prompts / "discord-2022-records.jsonl", shared("records", "dev.jsonl")):
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            texts += [t for t in (r.get("prompt"), r.get("negative_prompt")) if t]
    for frag in sorted((prompts / "fragments").rglob("*.txt")):
        texts += [line.rstrip("\n") for line in frag.open(encoding="utf-8", errors="strict")]
    assert len(texts) > 400_000
    # A repeated prompt tests nothing its first occurrence did not (5 % of the lines repeat).
    return tuple(sorted(set(texts)))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_shared_prompt_round_trips_through_codecs_2_3_and_6(shard):
    texts = _all_prompts()[shard::SHARDS]
    limit = 1 << 20
    bad3 = [t for t in texts if promptcoder.decode(promptcoder.encode(t), limit) != t]
    bad2 = [t for t in texts if promptcoder.zstd_dict_decode(promptcoder.zstd_dict_encode(t), limit) != t]
    bad6 = [t for t in texts if _round_trip6(t, limit) is False]
    assert not bad3 and not bad2 and not bad6, (bad3[:3], bad2[:3], bad6[:3])


def _round_trip6(text: str, limit: int) -> bool | None:
    """True / False: codec 6 gives the text back or not; None: the text is too dense for
    codec 6's work bound (the field then gets another codec, by design)."""
    try:
        payload = promptcoder.high_order_encode(text)
    except PayloadBoundExceeded:
        return None
    return promptcoder.high_order_decode(payload, limit) == text
