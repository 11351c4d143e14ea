"""Hostile JSON forms for aigif.from_dict (aigif/jsonform.py, spec §8): every value it cannot
take is refused with an AigifError, and what it takes encodes into a file that AIGIF reads
back (a writer never produces a file its own reader refuses).
"""

from __future__ import annotations

import pytest

import aigif
from aigif.errors import AigifError, InvalidSyntax, LimitExceeded
from harness import cpu_time_guard, regression


def _from_dict_then_round_trip(d):
    """The contract for Syntax.from_dict: an AigifError, or a Syntax that encodes into a file
    that AIGIF reads back (a writer never produces a file its own reader refuses)."""
    try:
        s = aigif.from_dict(d)
    except AigifError:
        return "refused"
    data = aigif.encode(s)
    aigif.decode(data)
    return "written"


REFUSED = [
    # (case id, JSON form, expected error class) - all behave today
    ("not-an-object", [], InvalidSyntax),
    ("string", "x", InvalidSyntax),
    ("unknown-key", {"prompt": "x", "colour": 1}, InvalidSyntax),
    ("prompt-int", {"prompt": 5}, InvalidSyntax),
    ("negative-int", {"negative_prompt": 5}, InvalidSyntax),
    ("prompt-surrogate", {"prompt": "\ud800"}, AigifError),
    ("prompt-over-limit", {"prompt": "x" * (aigif.limits.MAX_TEXT_BYTES + 1)}, LimitExceeded),
    ("seed-nan", {"seed": float("nan")}, InvalidSyntax),
    ("seed-inf", {"seed": float("inf")}, InvalidSyntax),
    ("seed-str", {"seed": "5"}, InvalidSyntax),
    ("seed-negative", {"seed": -1}, InvalidSyntax),
    ("seed-65-bits", {"seed": 1 << 64}, InvalidSyntax),
    ("seed-1e300", {"seed": 1e300}, InvalidSyntax),
    ("seed-bool", {"seed": True}, InvalidSyntax),
    ("steps-zero", {"steps": 0}, InvalidSyntax),
    ("steps-fraction", {"steps": 2.5}, InvalidSyntax),
    ("width-inf", {"width": float("inf")}, InvalidSyntax),
    ("size-over-limit", {"width": 16385}, InvalidSyntax),
    ("guidance-nan", {"guidance": float("nan")}, InvalidSyntax),
    ("guidance-inf-str", {"guidance": "inf"}, InvalidSyntax),
    ("guidance-word", {"guidance": "abc"}, InvalidSyntax),
    ("guidance-list", {"guidance": [7]}, InvalidSyntax),
    ("guidance-bool", {"guidance": True}, InvalidSyntax),
    ("guidance-30-digits", {"guidance": 10**30}, InvalidSyntax),
    ("scheduler-bool", {"scheduler": True}, InvalidSyntax),
    ("scheduler-zero", {"scheduler": 0}, InvalidSyntax),
    ("scheduler-float", {"scheduler": 1.0}, InvalidSyntax),
    ("scheduler-unknown-name", {"scheduler": "nope"}, InvalidSyntax),
    ("model-zero", {"model": 0}, InvalidSyntax),
    ("model-negative", {"model": -1}, InvalidSyntax),
    ("model-2**40", {"model": 1 << 40}, InvalidSyntax),
    ("model-float", {"model": 1.5}, InvalidSyntax),
    ("model-empty", {"model": ""}, InvalidSyntax),
    ("model-name-over-limit", {"model": "m" * 1025}, InvalidSyntax),
    ("model-object-no-name", {"model": {}}, InvalidSyntax),
    ("model-fingerprint-not-hex", {"model": {"name": "sd-1.5", "fingerprint": "zz"}}, InvalidSyntax),
    ("model-fingerprint-int", {"model": {"name": "sd-1.5", "fingerprint": 5}}, InvalidSyntax),
    ("model-fingerprint-33-bytes", {"model": {"name": "sd-1.5", "fingerprint": "00" * 33}}, InvalidSyntax),
    ("model-name-object", {"model": {"name": {"a": 1}}}, InvalidSyntax),
    ("model-surrogate", {"model": "\ud800"}, InvalidSyntax),
    ("platform-list", {"platform": []}, InvalidSyntax),
    ("platform-unknown-key", {"platform": {"x": 1}}, InvalidSyntax),
    ("platform-device-list", {"platform": {"device": []}}, InvalidSyntax),
    ("platform-threads-str", {"platform": {"threads": "4"}}, InvalidSyntax),
    ("platform-threads-bool", {"platform": {"threads": True}}, InvalidSyntax),
    ("platform-torch-int", {"platform": {"torch": 5}}, InvalidSyntax),
    ("platform-string-over-255", {"platform": {"torch": "t" * 256}}, InvalidSyntax),
    ("extensions-list", {"extensions": []}, InvalidSyntax),
    ("extension-unknown", {"extensions": {"nope": 1}}, InvalidSyntax),
    ("clip-skip-str", {"extensions": {"clip_skip": "2"}}, InvalidSyntax),
    ("clip-skip-bool", {"extensions": {"clip_skip": True}}, InvalidSyntax),
    ("lora-name-int", {"extensions": {"lora": [{"name": 1}]}}, InvalidSyntax),
    ("lora-not-list", {"extensions": {"lora": {"name": "x"}}}, InvalidSyntax),
    ("fidelity-str", {"fidelity": "x"}, InvalidSyntax),
    ("fidelity-method-nan", {"fidelity": {"method": float("nan"), "digest": "00"}}, InvalidSyntax),
    ("fidelity-digest-int", {"fidelity": {"method": 1, "digest": 5}}, InvalidSyntax),
    ("payloads-object", {"payloads": {"a": 1}}, InvalidSyntax),
    ("payloads-str", {"payloads": "abc"}, InvalidSyntax),
    ("payload-data-int", {"payloads": [{"kind": "pixels", "codec": 1, "data": 5}]}, InvalidSyntax),
]


@pytest.mark.parametrize("name, d, error", REFUSED, ids=[c[0] for c in REFUSED])
def test_syntax_from_dict_refuses(name, d, error):
    with pytest.raises(error):
        aigif.from_dict(d)


FROM_DICT_BUGS = [
    # (case id, JSON form, why it fails today): each must be refused with an AigifError or
    # written into a file that AIGIF reads back
    ("extension-int-key", {"extensions": {5: 1}}, "AttributeError: 'int' has no startswith"),
    ("raw-extension-bad-hex", {"extensions": {"ext-200": {"msgpack": "zz"}}}, "ValueError from bytes.fromhex"),
    ("raw-extension-unicode-digit", {"extensions": {"ext-\u00b2": {"msgpack": "c0"}}}, "ValueError: str.isdigit accepts superscript two"),
    ("raw-extension-known-code", {"extensions": {"ext-2": {"msgpack": "02"}}}, "written as ancillary raw code 2, unreadable (E_SEGMENT)"),
    ("raw-extension-code-over-3-bytes", {"extensions": {"ext-99999999999": {"msgpack": "c0"}}}, "written, unreadable (E_FIELD)"),
    ("extension-int-beyond-64-bits", {"extensions": {"hires": {"a": 1 << 70}}}, "msgpack OverflowError at encode"),
    ("extension-surrogate-value", {"extensions": {"hires": {"a": "\ud800"}}}, "UnicodeEncodeError at encode"),
    ("extension-surrogate-key", {"extensions": {"hires": {"\ud800": 1}}}, "UnicodeEncodeError at encode"),
    ("extension-non-string-map-key", {"extensions": {"hires": {1: 1}}}, "written, unreadable (strict_map_key, E_FIELD)"),
    ("extension-set", {"extensions": {"hires": {"a": {1, 2}}}}, "msgpack TypeError at encode"),
    ("extension-over-limit", {"extensions": {"comment": "c" * ((1 << 20) + 10)}}, "written, unreadable (E_LIMIT)"),
    ("fidelity-method-inf", {"fidelity": {"method": float("inf"), "digest": "00"}}, "OverflowError from int(inf)"),
    ("fidelity-method-300", {"fidelity": {"method": 300, "digest": "00"}}, "ValueError at encode (bytes([300]))"),
    ("fidelity-method-negative", {"fidelity": {"method": -1, "digest": "00"}}, "ValueError at encode"),
    ("fidelity-empty-digest", {"fidelity": {"method": 1, "digest": ""}}, "written, unreadable (E_FIELD)"),
    ("fidelity-40-byte-digest", {"fidelity": {"method": 1, "digest": "00" * 40}}, "written, unreadable (E_FIELD)"),
    ("payloads-int", {"payloads": 5}, "TypeError: int is not iterable"),
    ("payload-codec-negative", {"payloads": [{"kind": "pixels", "codec": -1, "data": ""}]}, "ValueError from leb128 at encode"),
    ("payload-codec-inf", {"payloads": [{"kind": "pixels", "codec": float("inf"), "data": ""}]}, "OverflowError from int(inf)"),
    ("payload-codec-2**40", {"payloads": [{"kind": "pixels", "codec": 1 << 40, "data": ""}]}, "written, unreadable (E_FIELD)"),
    ("two-critical-pixels", {"payloads": [{"kind": "pixels", "codec": 1, "data": "AA=="}] * 2}, "written, unreadable (E_SEGMENT)"),
    ("ancillary-residual", {"prompt": "x", "payloads": [{"kind": "residual", "codec": 32, "data": "", "critical": False}]}, "written, unreadable (E_SEGMENT)"),
]


@pytest.mark.parametrize(
    "d", [pytest.param(d, id=name, marks=regression(f"Syntax.from_dict/encode: {why}")) for name, d, why in FROM_DICT_BUGS]
)
def test_syntax_from_dict_refuses_or_round_trips(d):
    assert _from_dict_then_round_trip(d) in ("refused", "written")


FROM_DICT_COERCION_BUGS = [
    # (case id, JSON form, what is silently accepted today): each must be refused
    ("prompt-list", {"prompt": []}, "a falsy non-string prompt ([], 0, false) is taken as ''"),
    ("prompt-false", {"prompt": False}, "a falsy non-string prompt is taken as ''"),
    ("prompt-zero", {"prompt": 0}, "a falsy non-string prompt is taken as ''"),
    ("extension-nan", {"extensions": {"eta": float("nan")}}, "NaN is accepted although the JSON form cannot carry it"),
    ("extension-inf-in-object", {"extensions": {"hires": {"scale": float("inf")}}}, "Infinity is accepted"),
    ("payload-kind-unknown", {"payloads": [{"kind": "bogus", "codec": 1, "data": "AA=="}]}, "any kind is stored as a RESIDUAL"),
    ("payload-data-not-base64", {"payloads": [{"kind": "pixels", "codec": 1, "data": "!!!"}]}, "b64decode without validate=True drops the garbage"),
]


@pytest.mark.parametrize(
    "d", [pytest.param(d, id=name, marks=regression(f"Syntax.from_dict: {why}")) for name, d, why in FROM_DICT_COERCION_BUGS]
)
def test_syntax_from_dict_refuses_wrong_types_instead_of_coercing(d):
    with pytest.raises(AigifError):
        aigif.encode(aigif.from_dict(d))


@regression("Syntax.from_dict: decimal_parts expands the exponent (ValueError for 1e5000, a 10**8-step "
            "loop for 0E-99999999, minutes for 1e999999999) - bound the exponent in parse_guidance first")
@pytest.mark.parametrize("guidance", ["1e5000", "0E-99999999", "-0e+5000"])
def test_syntax_from_dict_guidance_exponent(guidance):
    with cpu_time_guard(3):
        with pytest.raises(InvalidSyntax):
            aigif.from_dict({"guidance": guidance})
