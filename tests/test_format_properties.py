"""Property-based tests: any valid syntax round-trips exactly (hypothesis)."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aigif
from aigif.extensions import BY_NAME

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
names = st.sampled_from(["sd-1.5", "CompVis/stable-diffusion-v1-4", "tiny-sd", "tiny-sdxl", "my/inline-model", 7, 3000])
schedulers = st.sampled_from(["euler", "euler_a", "ddim", "dpmpp_2m_karras", "lms", "pndm", "Euler a", None])
decimals = st.builds(lambda m, s: float(f"{m}e-{s}") if s else m, st.integers(-10**6, 10**6), st.integers(0, 4))
ext_values = st.fixed_dictionaries(
    {},
    optional={
        "clip_skip": st.integers(1, 12),
        "lora": st.lists(st.fixed_dictionaries({"name": st.text(min_size=1, max_size=20), "weight": st.floats(-2, 2, allow_nan=False)}), max_size=3),
        "comment": st.text(max_size=50),
        "eta": st.floats(0, 1, allow_nan=False),
        "source": st.fixed_dictionaries({"tool": st.text(max_size=10)}),
    },
)


@st.composite
def syntaxes(draw):
    d = {"prompt": draw(text)}
    for key, strat in (
        ("model", names),
        ("negative_prompt", text),
        ("seed", st.integers(0, 2**64 - 1)),
        ("steps", st.integers(1, 10000)),
        ("guidance", decimals),
        ("width", st.integers(1, 16384)),
        ("height", st.integers(1, 16384)),
        ("scheduler", schedulers),
        ("extensions", ext_values),
    ):
        if draw(st.booleans()):
            d[key] = draw(strat)
    return {k: v for k, v in d.items() if v is not None}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syntaxes())
def test_any_valid_syntax_round_trips(d):
    s = aigif.from_dict(d)
    data = aigif.encode(s)
    back = aigif.decode(data)
    assert aigif.to_dict(back) == aigif.to_dict(s)
    assert aigif.encode(back) == data  # one syntax, one file
    # the JSON form is a fixed point: normalising twice changes nothing
    assert aigif.to_dict(aigif.from_dict(aigif.to_dict(back))) == aigif.to_dict(back)
