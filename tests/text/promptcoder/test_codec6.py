"""Text codec 6 (spec/prompt-coder.md §11): model v1's chain under orders 8..5."""

from __future__ import annotations

import pytest

import aigif.text as textcodec
import aigif.text.promptcoder as pc
from aigif.errors import InvalidText, LimitExceeded
from aigif.text.promptcoder import chain
from aigif.text.promptcoder.codec6 import ORDERS_MAGIC, get_extended_model, parse_orders
from aigif.text.promptcoder.model import get_model

from conftest import REPO, shared

LIMIT = 1 << 20
# Civitai-style tag lists: the runs of quality tags that orders 5..8 were added for
BOILERPLATE = ("best quality, masterpiece, highres, 1girl, blush, (seductive smile:0.8), star-shaped pupils, china hanfu, "
               "hair ornament, necklace, jewelry, beautiful face, upon body, tyndall effect, photorealistic, dark studio, "
               "rim lighting, two tone lighting, (high detailed skin:1.2), 8k uhd, dslr, soft lighting, high quality, "
               "volumetric lighting, candid, photograph, high resolution, 4k, 8k, bokeh")
NEGATIVE = ("(worst quality, low quality:1.4), lowres, bad anatomy, bad hands, text, error, missing fingers, "
            "extra digit, fewer digits, cropped, jpeg artifacts, signature, watermark, username, blurry")


def test_round_trips():
    for text in ["", "a", BOILERPLATE, NEGATIVE, BOILERPLATE + "\n" + NEGATIVE, "猫 zzqx " * 30]:
        assert pc.high_order_decode(pc.high_order_encode(text), LIMIT) == text


def test_higher_orders_beat_codec_3_on_held_out_civitai_and_negative_prompts():
    # the prompts orders 5..8 were added for, never trained on (tools/train_prompt_coder.py's split)
    import sys

    sys.path.insert(0, str(REPO / "tools"))
    import train_prompt_coder as trainer

    held = trainer.held_out_prompts(shared("prompts").parent)
    for name in ("civitai", "negative"):
        prompts = held[name][:300]
        c3 = sum(len(pc.encode(p)) for p in prompts)
        c6 = sum(len(pc.high_order_encode(p)) for p in prompts)
        assert c6 < 0.95 * c3, (name, c3, c6)


def test_chain_consults_orders_8_to_1():
    model = get_extended_model()
    keys = chain.initial_keys(model)
    assert [k for k, _ in keys] == [8, 7, 6, 5, 4, 3, 2, 1]
    # orders 1..4 are model v1's exact keys, shared; 5..8 are 32-bit fingerprints
    base = get_model()
    assert keys[4:] == chain.initial_keys(base)
    assert all(key < 1 << 32 for k, key in keys if k > 4)


def test_keys_stay_the_residue_of_the_whole_number():
    model = get_extended_model()
    v = model.n_vocab
    syms = [7, 1000, 55000, 3, 42, 9, 12345, 5, 77, 31]
    keys = chain.initial_keys(model)
    hist = [1] * 8
    for s in syms:
        keys = chain.advance(keys, v, s)
        hist = hist[1:] + [s]
    for k, key in keys:
        number = 0
        for s in hist[8 - k:]:
            number = number * v + s
        assert key == (number % (1 << 32) if k > 4 else number)


def test_the_per_field_choice_takes_codec_6_where_it_is_cheapest():
    codec, payload = textcodec.cheapest(BOILERPLATE, lambda c, p: len(p))
    assert codec == textcodec.HIGH_ORDER_MODEL
    assert len(payload) < len(pc.encode(BOILERPLATE))
    assert textcodec.decode(codec, payload) == BOILERPLATE


def test_limit_and_damage():
    data = pc.high_order_encode(NEGATIVE)
    with pytest.raises(LimitExceeded):
        pc.high_order_decode(data, 20)
    for n in range(len(data)):
        try:
            pc.high_order_decode(data[:n], 4096)
        except (InvalidText, LimitExceeded):
            pass


def test_extension_that_does_not_fit_model_v1_is_refused():
    base = get_model()
    import struct

    head = ORDERS_MAGIC + struct.pack("<III", base.n_vocab + 1, 5, 8)
    with pytest.raises(ValueError, match="does not fit"):
        parse_orders(head, base)
    with pytest.raises(ValueError, match="not a prompt-coder order extension"):
        parse_orders(b"AIGIFPC\x01" + head[8:], base)
    empty = b"".join(struct.pack("<II", 0, 0) + bytes(2 * 65536) for _ in range(4))  # no context, empty buckets
    ext = parse_orders(ORDERS_MAGIC + struct.pack("<III", base.n_vocab, 5, 8) + empty, base)
    assert ext.max_order == 8 and ext.context(8, 123) is None
    with pytest.raises(ValueError, match="trailing"):
        parse_orders(ORDERS_MAGIC + struct.pack("<III", base.n_vocab, 5, 8) + empty + b"\0", base)
