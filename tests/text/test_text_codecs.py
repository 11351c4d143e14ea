"""The per-field text-codec choice (spec §5.5): text codec 4 (brotli) and the guarantee that
no field costs more than brotli-11 of its text plus 2 bytes.

The guarantee is checked here on a deterministic sample of every shared prompt set;
bench/prompt_coder.py --guarantee sweeps every prompt (BENCHMARKS.md has the result).
"""

from __future__ import annotations

import json
import random
import time

import brotli
import pytest

from aigif import text as textcodec
from aigif.bits import ue_bits
from aigif.errors import InvalidText, LimitExceeded

from conftest import shared

SAMPLE = 60  # prompts per set: the whole test stays within a few seconds of CPU
FLAG_BITS = 9  # the SYNTAX presence flags before the prompt's codec ID (spec §5.1)


def prompt_field_bits(codec: int, payload: bytes) -> int:
    """What the prompt field costs in a SYNTAX body, as the encoder counts it (spec §5.1)."""
    return ((FLAG_BITS + ue_bits(codec) + 7) // 8) * 8 + 8 * len(payload) - FLAG_BITS


def sized_field_bits(codec: int, payload: bytes) -> int:
    return ue_bits(codec) + ue_bits(len(payload)) + 8 * len(payload)


def assert_within_brotli(text: str) -> None:
    ref = len(brotli.compress(text.encode("utf-8"), quality=11))
    codec, payload = textcodec.cheapest(text, prompt_field_bits)
    assert textcodec.decode(codec, payload) == text
    assert prompt_field_bits(codec, payload) <= 8 * (ref + 2), (codec, len(payload), ref, text[:80])
    codec, payload = textcodec.cheapest(text, sized_field_bits)
    # the length prefix is granted at brotli's own length: brotli would need it too
    assert sized_field_bits(codec, payload) <= ue_bits(ref) + 8 * (ref + 2), (codec, len(payload), ref, text[:80])


def _sample(lines: list[str], seed: str) -> list[str]:
    rng = random.Random(seed)
    return rng.sample(lines, min(SAMPLE, len(lines)))


def shared_prompt_sets() -> dict[str, list[str]]:
    prompts = shared("prompts")
    sets = {}
    for path in sorted(prompts.glob("*.txt")) + sorted((prompts / "modern").glob("*.txt")):
        sets[path.name] = [line.rstrip("\n").replace("\\n", "\n") for line in path.open(encoding="utf-8") if line.strip()]
    sets["discord-2022-records.jsonl"] = [json.loads(line)["prompt"] for line in (prompts / "discord-2022-records.jsonl").open(encoding="utf-8")]
    sets["dev.jsonl"] = [json.loads(line)["prompt"] for line in shared("records", "dev.jsonl").open(encoding="utf-8")]
    frags = []
    for path in sorted((prompts / "fragments").rglob("*.txt")):
        frags += [line.rstrip("\n") for line in path.open(encoding="utf-8") if line.strip()]
    sets["fragments"] = frags
    return sets


def test_no_field_costs_more_than_brotli_plus_2_bytes_on_every_shared_set():
    t0 = time.process_time()
    sets = shared_prompt_sets()
    assert len(sets) >= 9
    for name, lines in sets.items():
        sample = _sample(lines, name)
        # the longest prompts of each set too: that is where brotli's window pays
        sample += sorted(lines, key=len)[-3:]
        for text in sample:
            assert_within_brotli(text)
    assert time.process_time() - t0 < 60  # a runaway guard, not a timing


@pytest.mark.parametrize(
    "text",
    [
        "一只猫坐在窗台上，阳光洒在它的毛上。" * 4,
        "桜の木の下で猫が眠っている、柔らかな春の光。" * 3,
        '{\n    "subject": "a red fox",\n    "style": "watercolor",\n    "lighting": "soft",\n    "camera": "35mm"\n}',
        "The quick brown fox jumps over the lazy dog. " * 20,
        "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400)),
        "",
        "a",
    ],
)
def test_guarantee_on_texts_the_prompt_model_codes_badly(text):
    assert_within_brotli(text)


def test_brotli_wins_where_the_prompt_model_is_weak():
    """CJK prose is where codec 3 spells bytes: the choice must land on brotli there."""
    text = "一只猫坐在窗台上，阳光洒在它的毛上。远处是连绵的青山和白云，河水静静地流淌。" * 3
    codec, _ = textcodec.cheapest(text, prompt_field_bits)
    assert codec == textcodec.BROTLI


def test_brotli_round_trip_and_both_modes_no_longer_than_the_default():
    for text in ["", "x", "masterpiece, best quality, " * 30, "猫" * 1000, "\U0001f98a fox \n\t" * 50]:
        payload = textcodec.encode(textcodec.BROTLI, text)
        assert len(payload) <= len(brotli.compress(text.encode(), quality=11))
        assert textcodec.decode(textcodec.BROTLI, payload) == text


def test_brotli_bomb_is_refused_at_the_limit_without_decoding_it_all():
    bomb = brotli.compress(b"a" * (64 << 20), quality=5)
    t0 = time.process_time()
    with pytest.raises(LimitExceeded):
        textcodec.decode(textcodec.BROTLI, bomb, max_bytes=1000)
    with pytest.raises(LimitExceeded):
        textcodec.decode(textcodec.BROTLI, bomb)
    assert time.process_time() - t0 < 2  # 64 MiB would take far longer to inflate and hold


@pytest.mark.parametrize("damage", ["trailing", "truncated", "empty", "garbage"])
def test_bad_brotli_payloads_are_invalid_text(damage):
    good = brotli.compress("a red fox in the snow".encode(), quality=11)
    payload = {"trailing": good + b"\x00", "truncated": good[:-1], "empty": b"", "garbage": b"\xff" * 9}[damage]
    with pytest.raises(InvalidText):
        textcodec.decode(textcodec.BROTLI, payload)


def test_brotli_output_must_be_utf8():
    with pytest.raises(InvalidText):
        textcodec.decode(textcodec.BROTLI, brotli.compress(b"\xff\xfe caf\xe9"))
