"""Extension 17 `semantics` and 18 `embeddings` (spec §7.1.1): values, compact coding,
the default-elision rule, and what `aigif info` shows."""

from __future__ import annotations

import msgpack
import pytest

import aigif
from aigif.bits import leb128
from aigif.cli.main import main
from aigif.errors import InvalidSyntax, MalformedField
from aigif.extensions import engine_of
from aigif.format import segments_of
from aigif.defaults import elide_defaults


def _ext_bodies(syntax) -> dict[int, bytes]:
    """{extension code: msgpack payload} of the file segments_of would write."""
    out = {}
    for seg in segments_of(elide_defaults(syntax)):
        if seg.type & 0x1F == 0x04:
            code, payload = seg.body[0], bytes(seg.body[1:])
            out[code] = payload
    return out


def crc_file_with_extension(code: int, payload: bytes) -> bytes:
    """A file whose SYNTAX is `prompt x` plus one critical EXTENSION segment, framed by
    the container (segments written by hand, so the encoder's checks do not apply)."""
    from aigif import container
    from aigif.container import EXTENSION, SYNTAX, Segment
    from aigif.segments.syntax import encode_body

    return container.pack([Segment(SYNTAX, encode_body(aigif.from_dict({"prompt": "x"}))), Segment(EXTENSION, leb128(code) + payload)])


def _syntax(**ext):
    return aigif.from_dict({"prompt": "x", "extensions": ext})


@pytest.mark.parametrize(
    "value, packed",
    [
        ({"engine": "a1111"}, [2]),
        ({"engine": "a1111", "version": "v1.10.1"}, [2, "v1.10.1"]),
        ({"engine": "a1111", "options": {"NGMS": 4.0}}, [2, None, {"NGMS": 4.0}]),
        ({"engine": "comfyui", "version": "0.3", "options": {"x": True}}, [3, "0.3", {"x": True}]),
        ({"engine": "draw-things"}, ["draw-things"]),
        ({"engine": "engine-40"}, [40]),  # a newer writer's number is written back as that number
        ({"engine": "diffusers", "version": "0.42.1"}, [1, "0.42.1"]),
    ],
)
def test_compact_coding_and_round_trip(value, packed):
    s = _syntax(semantics=value)
    assert msgpack.unpackb(_ext_bodies(s)[17]) == packed
    assert aigif.decode(aigif.encode(s)).extensions["semantics"] == value


def test_default_semantics_is_never_written():
    plain = aigif.encode(aigif.from_dict({"prompt": "x"}))
    assert aigif.encode(_syntax(semantics={"engine": "diffusers"})) == plain
    assert aigif.encode(_syntax(semantics={"engine": "diffusers", "options": {}})) == plain
    # empty options are no options
    assert aigif.encode(_syntax(semantics={"engine": "a1111", "options": {}})) == aigif.encode(_syntax(semantics={"engine": "a1111"}))


def test_decoder_rejects_the_explicit_default():
    with pytest.raises(MalformedField):
        aigif.decode(crc_file_with_extension(17, msgpack.packb([1])))


@pytest.mark.parametrize(
    "payload",
    [[True], [0], [-3], ["a1111"], ["engine-40"], [""], [2, None], [2, 5], [2, "v", []], [2, "v", {}], [2, "v", {"k": [1]}], [2, "v", {"k": None}], [], [2, "v", {"k": 1}, 4], {"engine": 2}],
)
def test_non_canonical_or_malformed_payloads_are_field_errors(payload):
    with pytest.raises(MalformedField):
        aigif.decode(crc_file_with_extension(17, msgpack.packb(payload)))


@pytest.mark.parametrize(
    "value",
    [{}, {"engine": 2}, {"engine": ""}, {"engine": "a1111", "version": 1}, {"engine": "a1111", "options": []},
     {"engine": "a1111", "options": {"k": {"nested": 1}}}, {"engine": "a1111", "extra": 1}],
)
def test_json_form_refuses_bad_values(value):
    with pytest.raises(InvalidSyntax):
        aigif.encode(_syntax(semantics=value))


def test_embeddings_extension():
    value = [{"name": "easynegative", "hash": "c74b4e810b"}, {"name": "bad-hands-5"}]
    s = _syntax(embeddings=value)
    assert aigif.decode(aigif.encode(s)).extensions["embeddings"] == value
    for bad in ([{"hash": "x"}], [{"name": "a", "weight": 1}], {"name": "a"}):
        with pytest.raises(InvalidSyntax):
            aigif.encode(_syntax(embeddings=bad))


def test_engine_of():
    assert engine_of({}) == "diffusers"
    assert engine_of({"semantics": {"engine": "a1111"}}) == "a1111"


def test_info_shows_the_semantics(tmp_path, capsys):
    path = tmp_path / "a.aigif"
    path.write_bytes(aigif.encode(_syntax(semantics={"engine": "a1111", "version": "v1.10.1", "options": {"Emphasis": "No norm"}})))
    assert main(["info", str(path)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("semantics"))
    assert "a1111" in line and "v1.10.1" in line and "No norm" in line
    path.write_bytes(aigif.encode(aigif.from_dict({"prompt": "x"})))
    assert main(["info", str(path)]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("semantics"))
    assert "diffusers" in line and "default" in line


def test_old_decoders_fail_loudly():
    """A 1.0 decoder knows no code 17: the critical segment is E_CRITICAL, never misread."""
    from aigif import extensions
    from aigif.errors import UnknownCritical

    data = aigif.encode(_syntax(semantics={"engine": "a1111"}))
    saved = extensions.BY_CODE.pop(17)
    try:
        import aigif.segments.extension as segext

        segext.BY_CODE.pop(17, None)
        with pytest.raises(UnknownCritical):
            aigif.decode(data)
    finally:
        extensions.BY_CODE[17] = saved
        segext.BY_CODE[17] = saved
    assert leb128(17) == b"\x11"
