"""Text codec 5 (spec/prompt-coder.md §10): codec 3's model under adaptive in-text models.

The generic round-trip and hostile-payload tests run codec 5 through test_promptcoder.py's
CODECS table; these are the properties specific to codec 5.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aigif.text.promptcoder as pc
from aigif import text as textcodec
from aigif.errors import AigifError, InvalidText
from aigif.text.promptcoder import codec5
from aigif.text.promptcoder.rangecoder import PayloadBoundExceeded

LIMIT = 1 << 20

JSON_PROMPT = """{
  "subject": "a red fox sitting in the snow",
  "style": "watercolor illustration",
  "lighting": "soft morning light",
  "camera": {
    "lens": "85mm",
    "aperture": "f/1.8"
  },
  "mood": "calm and quiet",
  "colors": ["orange", "white", "pale blue"]
}"""


def test_json_prompt_gains_from_learning_within_the_text():
    """Repeated indentation runs and key punctuation: codec 3 spells or mispredicts them."""
    c3, c5 = len(pc.encode(JSON_PROMPT)), len(pc.adaptive_encode(JSON_PROMPT))
    assert pc.adaptive_decode(pc.adaptive_encode(JSON_PROMPT), LIMIT) == JSON_PROMPT
    assert c5 < c3, (c3, c5)


def test_repeated_oov_pieces_become_local_pieces():
    word = " zqxwvkjh"  # outside the static vocabulary: spelled once, then a local piece
    once, four = len(pc.adaptive_encode(word)), len(pc.adaptive_encode(word * 4))
    assert four < once + 3, (once, four)
    assert len(pc.encode(word * 4)) > 2 * once  # codec 3 spells it every time


def test_cjk_characters_are_pieces_of_their_own():
    assert codec5.pieces("一只猫 a cat、犬") == ["一", "只", "猫", " a", " cat", "、", "犬"]
    text = "一只猫坐在窗台上，阳光洒在它的毛上。一只猫坐在窗台上。"
    assert "".join(codec5.pieces(text)) == text
    assert pc.adaptive_decode(pc.adaptive_encode(text), LIMIT) == text


def test_tables_stay_bounded_on_texts_with_many_distinct_pieces():
    """Past MAX_LOCAL_PIECES spelled pieces and ADAPTIVE_FOLLOWERS followers, coding goes
    on (spelled, not remembered) and round-trips."""
    words = [f" q{chr(0x61 + i % 26)}{chr(0x61 + i // 26 % 26)}{chr(0x61 + i // 676)}z" for i in range(codec5.MAX_LOCAL_PIECES + 50)]
    text = ",".join(words) + "".join(", and" + w for w in words[:80])
    t0 = time.process_time()
    assert pc.adaptive_decode(pc.adaptive_encode(text), LIMIT) == text
    assert time.process_time() - t0 < 10  # a runaway guard


def test_codec5_is_a_candidate_and_wins_on_json():
    text = "[" + JSON_PROMPT + ", " + JSON_PROMPT.replace("fox", "cat").replace("snow", "grass") + "]"
    codec, payload = textcodec.cheapest(text, lambda c, p: 8 * len(p))
    assert codec == textcodec.ADAPTIVE_MODEL
    assert textcodec.decode(codec, payload) == text


def test_too_dense_text_is_left_to_another_codec():
    text = "black darkness " * 3000
    with pytest.raises(PayloadBoundExceeded):
        pc.adaptive_encode(text)
    codec, payload = textcodec.cheapest(text, lambda c, p: 8 * len(p))
    assert codec != textcodec.ADAPTIVE_MODEL and textcodec.decode(codec, payload) == text


def test_runaway_payloads_are_refused():
    for data in (b"", b"\x00", b"\xff" * 3, b"\x00" * 40):
        try:
            text = pc.adaptive_decode(data, LIMIT)
        except InvalidText:
            continue
        # whatever decodes is bounded by the payload's decision budget
        assert len(text.encode()) <= 97 * (len(data) + 8) * 4


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["a", " cat", ",", "\n  ", '"key": ', "猫", "🦊", " zzqx", "{", "}", " --ar 16:9", " "]), max_size=60))
def test_any_piece_mix_round_trips(parts):
    text = "".join(parts)
    try:
        data = pc.adaptive_encode(text)
    except PayloadBoundExceeded:
        return
    assert pc.adaptive_decode(data, LIMIT) == text


def test_truncations_raise_only_aigif_errors():
    data = pc.adaptive_encode(JSON_PROMPT)
    for n in range(len(data)):
        try:
            pc.adaptive_decode(data[:n], 4096)
        except AigifError:
            pass


def test_primer_knows_midjourney_parameters():
    """The primer (training half of prompts/modern/) has the ` --stylize` pairs that model
    v1 spells: the same prompt costs less under codec 5."""
    text = "a lighthouse in a storm, oil painting --ar 16:9 --v 7 --stylize 400"
    assert len(pc.adaptive_encode(text)) < len(pc.encode(text)) - 2


def test_primer_file_is_checked():
    from aigif.errors import UnknownTextCodec
    from aigif.text.promptcoder.model import get_model, load_data_file

    raw = load_data_file(codec5.PRIMER_FILE, codec5.PRIMER_SHA256)
    n_vocab = get_model().n_vocab
    primer = codec5.Primer(raw, n_vocab)
    assert primer.extra and primer.contexts
    assert all(1 <= len(f) <= codec5.ADAPTIVE_FOLLOWERS for f, _ in primer.contexts.values())
    assert all(c >= 1 for _, counts in primer.contexts.values() for c in counts)
    for bad in (raw[:-1], raw + b"\x00", b"AIGIFPC\x01" + raw[8:]):
        with pytest.raises(ValueError):
            codec5.Primer(bad, n_vocab)
    with pytest.raises(UnknownTextCodec):
        load_data_file(codec5.PRIMER_FILE, "0" * 64)
