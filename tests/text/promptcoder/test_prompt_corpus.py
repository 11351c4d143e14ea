"""Acceptance (issue 4): every prompt of the shared data round-trips through text codecs
2 and 3 exactly. About 4 minutes of CPU in all, in SHARDS tests so that each stays well
inside the per-test timeout on a slow CI machine; skipped with a reason when the data is
absent."""

import functools
import json

import pytest

from conftest import shared

from aigif.text import promptcoder

SHARDS = 6


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
def test_every_shared_prompt_round_trips_through_codecs_2_and_3(shard):
    texts = _all_prompts()[shard::SHARDS]
    limit = 1 << 20
    bad3 = [t for t in texts if promptcoder.decode(promptcoder.encode(t), limit) != t]
    bad2 = [t for t in texts if promptcoder.zstd_dict_decode(promptcoder.zstd_dict_encode(t), limit) != t]
    assert not bad3 and not bad2, (bad3[:3], bad2[:3])
