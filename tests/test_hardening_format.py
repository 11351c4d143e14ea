"""Issue 9, items 1, 2 and the .aigif part of 6: decoding work and memory are bounded by
the input, and encoding never drops or alters a field.

CPU bounds here are generous runaway guards (time.process_time), not timings: the
reproducers took 0.6-9 s before the fix and take milliseconds after it.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aigif
from aigif import format as file_format
from aigif import limits
from aigif import text as textcodec
from aigif.bits import BitWriter, leb128
from aigif.cli.main import main
from aigif.container import Segment, pack
from aigif.errors import AigifError, InvalidSyntax, InvalidText, LimitExceeded
from aigif.text.promptcoder import codec3
from aigif.text.promptcoder.rangecoder import PayloadBoundExceeded, RangeEncoder, max_decisions
from aigif.defaults import elide_defaults
from aigif.syntax import Platform, Syntax

from conftest import REPO, shared

CPU_BOUND_S = 2.0  # the issue's goal for any input; the real cost is far below


def syntax_file(body: bytes) -> bytes:
    """A well-framed file whose SYNTAX segment is `body` (CRC right)."""
    return pack([Segment(0x01, body)])


def prompt_only(codec_id: int, payload: bytes) -> bytes:
    """A SYNTAX body with no flags: the prompt field is ue(codec), padding, the payload."""
    w = BitWriter()
    for _ in range(9):
        w.flag(False)
    w.ue(codec_id)
    w.align()
    w.raw(payload)
    return w.getvalue()


def cpu(fn):
    t = time.process_time()
    try:
        result = fn()
    except AigifError as e:
        result = e
    return result, time.process_time() - t


@pytest.fixture(scope="module", autouse=True)
def _model_loaded():
    codec3.decode(codec3.encode("warm up"), 1 << 10)  # the model loads once (~0.1 s), not inside a bound


# -- item 1: runaway text decode -------------------------------------------------------
def test_ten_byte_reproducer_is_refused_quickly():
    data = bytes.fromhex("a1471001020010006a62")
    result, seconds = cpu(lambda: aigif.decode(data))
    assert isinstance(result, InvalidText) and result.code == "E_TEXT"
    assert seconds < CPU_BOUND_S


@pytest.mark.parametrize("codec_id", [textcodec.RAW, textcodec.ZSTD, textcodec.ZSTD_DICT, textcodec.PROMPT_MODEL])
@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x01", b"\x80", b"\xff"], ids=["empty", "00", "01", "80", "ff"])
def test_empty_and_one_byte_payloads_of_every_codec(codec_id, payload):
    """Each gives a text or a specific error, quickly; never a runaway or a traceback."""
    result, seconds = cpu(lambda: aigif.decode(syntax_file(prompt_only(codec_id, payload))))
    assert seconds < CPU_BOUND_S
    if isinstance(result, AigifError):
        assert result.code in ("E_TEXT", "E_LIMIT")
        assert codec_id != textcodec.RAW or payload == b"\x80" or payload == b"\xff"  # raw: only invalid UTF-8 fails
    else:
        assert len(result.prompt.encode()) <= 64 * (len(payload) + 8)  # the codec-3 density bound, at most
        if codec_id == textcodec.RAW:
            assert result.prompt.encode() == payload


def test_codec3_reads_at_most_16_implicit_zeros():
    """Spec prompt-coder.md §5 bound 1: zeros past the end are data, up to 16 of them."""
    for payload in (b"", b"\x00" * 3, b"jb", b"\x01\x00"):
        with pytest.raises(InvalidText, match="past the end"):
            codec3.decode(payload, 1 << 16)


def test_codec3_refuses_more_decisions_than_the_payload_allows():
    """Bound 2: a text far too repetitive for its payload (coded with the bound lifted)."""
    text = "black darkness " * 3000
    import aigif.text.promptcoder.rangecoder as rc

    saved = rc.DECISIONS_PER_BYTE
    rc.DECISIONS_PER_BYTE = 1 << 30  # an encoder without the bound, as a hostile one would be
    try:
        payload = codec3.encode(text)
    finally:
        rc.DECISIONS_PER_BYTE = saved
    assert len(text.split()) > max_decisions(len(payload))  # really denser than the bound
    result, seconds = cpu(lambda: aigif.decode(syntax_file(prompt_only(3, payload))))
    assert isinstance(result, InvalidText) and "decisions" in str(result)
    assert seconds < CPU_BOUND_S
    # the encoder falls back to another codec for that text, and the file reads back
    with pytest.raises(PayloadBoundExceeded):
        codec3.encode(text)
    s = aigif.from_dict({"prompt": text})
    assert aigif.decode(aigif.encode(s)).prompt == text


def test_encoder_keeps_emitted_zero_bytes():
    """A payload whose last bytes are zeros keeps them: its decoder reads at most 8 implicit zeros."""
    enc = RangeEncoder()
    for _ in range(40):  # symbol 0 of a big table: the coder emits zero bytes
        enc.encode(0, 1, 1 << 16)
    enc.encode(0, (1 << 16) - 1, 1 << 16)
    emitted = len(enc.out)
    payload = enc.finish()
    assert emitted > 0 and len(payload) >= emitted and payload.count(0) == len(payload)


def two_coded_texts(text: str) -> bytes:
    """A file whose negative prompt and prompt are both `text`, codec 3 (valid under the
    revision-1 limit of 1 MiB per field)."""
    payload = codec3.encode(text)
    w = BitWriter()
    for flag in (0, 1, 0, 0, 0, 0, 0, 0, 0):
        w.flag(bool(flag))
    w.ue(3)
    w.ue(len(payload))
    w.raw(payload)
    w.ue(3)
    w.align()
    w.raw(payload)
    return pack([Segment(0x01, w.getvalue())])


def test_two_one_mib_coded_texts_are_refused_quickly():
    """The issue's 9 s case: two 1 MiB coded texts are over the 64 KiB text limit now."""
    from aigif.text.promptcoder.model import get_model

    vocab = [v.decode("utf-8") for v in get_model().vocab[3:1000]]
    rng = random.Random(3)
    pieces, n = [], 0
    while n < 1 << 20:
        pieces.append(rng.choice(vocab))
        n += len(pieces[-1].encode())
    data = two_coded_texts("".join(pieces))
    result, seconds = cpu(lambda: aigif.decode(data))
    assert isinstance(result, LimitExceeded)
    assert seconds < CPU_BOUND_S


def test_texts_at_the_limits_decode_quickly_and_beyond_are_refused():
    rng = random.Random(4)
    civitai_like = ", ".join(rng.choice(["masterpiece", "best quality", "(red fox:1.2)", "1girl", "castle", "<lora:x:0.8>"]) for _ in range(20_000))
    prompt = civitai_like[: limits.MAX_TEXT_BYTES]
    negative = civitai_like[: limits.MAX_TOTAL_TEXT_BYTES - limits.MAX_TEXT_BYTES]
    data = aigif.encode(aigif.from_dict({"prompt": prompt, "negative_prompt": negative}))
    result, seconds = cpu(lambda: aigif.decode(data))
    assert isinstance(result, Syntax) and result.prompt == prompt and result.negative_prompt == negative
    assert seconds < CPU_BOUND_S
    with pytest.raises(LimitExceeded):  # one byte over the per-file total
        aigif.encode(aigif.from_dict({"prompt": prompt, "negative_prompt": negative + "x"}))
    with pytest.raises(LimitExceeded):
        aigif.from_dict({"prompt": "x" * (limits.MAX_TEXT_BYTES + 1)})


def test_text_payload_longer_than_the_limit_is_refused_before_decoding():
    """Any codec: a payload over MAX_TEXT_BYTES is E_LIMIT without being decoded."""
    for codec_id in (0, 1, 2, 3):
        data = syntax_file(prompt_only(codec_id, b"\x00" * (limits.MAX_TEXT_BYTES + 1)))
        result, seconds = cpu(lambda: aigif.decode(data))
        assert isinstance(result, LimitExceeded), codec_id
        assert seconds < CPU_BOUND_S


def test_real_prompts_stay_well_inside_the_density_bound(monkeypatch):
    """The bound of 64 decisions per (n + 8) bytes has a margin over real prompts
    (spec/prompt-coder.md §5: 15.7 was the densest of ~15,000 sampled): every sampled
    prompt still fits a bound of 32."""
    import aigif.text.promptcoder.rangecoder as rc

    rng = random.Random(9)
    texts = []
    for name in ("discord-2022.txt", "negative.txt"):
        lines = shared("prompts", name).read_text(encoding="utf-8").splitlines()
        texts += [t.replace("\\n", "\n") for t in rng.sample(lines, 150)]
    monkeypatch.setattr(rc, "DECISIONS_PER_BYTE", 32)
    for text in texts:
        assert codec3.decode(codec3.encode(text), 1 << 16) == text


# -- memory and CPU on big files --------------------------------------------------------
READ_CHILD = """
import json, resource, sys, time, aigif
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.process_time()
s = aigif.read(sys.argv[1])
cpu = time.process_time() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"extra_kib": peak - base, "cpu": cpu, "payload": len(s.payloads[0].data)}))
"""


def test_big_pixels_file_decodes_with_one_payload_copy(tmp_path):
    """The container hands out views: reading a file costs the file plus one copy of its
    payload (was ~2.8x the file: a bytes slice per segment, another for the CRC)."""
    size = 48 << 20
    path = tmp_path / "big.aigif"
    path.write_bytes(pack([Segment(0x05, leb128(1) + bytes(size))]))
    out = subprocess.run([sys.executable, "-c", READ_CHILD, str(path)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["payload"] == size
    assert r["extra_kib"] * 1024 < 2.3 * size
    assert r["cpu"] < CPU_BOUND_S


def test_files_over_the_limits_are_refused_before_reading():
    over = bytes(limits.MAX_FILE_BYTES + 1)
    result, seconds = cpu(lambda: aigif.decode(over))
    assert isinstance(result, LimitExceeded) and seconds < 0.5
    declared = b"\xa1G\x10\x05" + leb128(limits.MAX_SEGMENT_BYTES + 1)
    assert isinstance(cpu(lambda: aigif.decode(declared))[0], LimitExceeded)


def test_many_segments_and_big_extensions_are_bounded():
    segs = [Segment(0x01, prompt_only(0, b"x"))]
    segs += [Segment(0xD4, b"z" * 100) for _ in range(limits.MAX_SEGMENTS - 1)]
    data = pack(segs)
    result, seconds = cpu(lambda: aigif.decode(data))
    assert isinstance(result, Syntax) and seconds < CPU_BOUND_S
    assert isinstance(cpu(lambda: aigif.decode(pack(segs + [Segment(0xD4, b"")] * 2)))[0], LimitExceeded)
    # the largest 'unmapped' extension the limit allows, as many small values as fit
    import msgpack

    value = {f"k{i}": i for i in range(90_000)}
    payload = msgpack.packb(value)
    assert len(payload) < limits.MAX_EXTENSION_BYTES
    data = pack([Segment(0x01, prompt_only(0, b"x")), Segment(0xC4, leb128(66) + payload)])
    result, seconds = cpu(lambda: aigif.decode(data))
    assert isinstance(result, Syntax) and len(result.extensions["unmapped"]) == 90_000
    assert seconds < CPU_BOUND_S


def test_platform_segment_too_long_is_refused_without_copying():
    data = pack([Segment(0x01, prompt_only(0, b"x")), Segment(0x82, bytes(4) + bytes(4 * 1 << 20))])
    assert cpu(lambda: aigif.decode(data))[0].code == "E_FIELD"


# -- item 2: silent field loss on encode -------------------------------------------------
ISSUE_SYNTAX = {"prompt": "", "steps": 30, "negative_prompt": "blurry", "payloads": [{"kind": "pixels", "codec": 1, "data": "eA==", "critical": True}]}


def test_pixels_file_keeps_every_field_given():
    s = aigif.from_dict(ISSUE_SYNTAX)
    back = aigif.decode(aigif.encode(s))
    assert back.steps == 30 and back.negative_prompt == "blurry" and back.has_syntax
    for key, value in (("guidance", 6.5), ("width", 640), ("height", 448), ("scheduler", "ddim"), ("seed", 5), ("model", "sd-1.5")):
        d = dict(ISSUE_SYNTAX, steps=None, negative_prompt=None, **{key: value})
        d = {k: v for k, v in d.items() if v is not None}
        s = aigif.from_dict(d)
        assert aigif.to_dict(aigif.decode(aigif.encode(s))) == aigif.to_dict(s), key


def test_pixels_only_file_still_has_no_syntax_segment():
    s = aigif.from_dict({"payloads": ISSUE_SYNTAX["payloads"]})
    data = aigif.encode(s)
    assert data[3] == 0x05  # the first segment is PIXELS
    assert not aigif.decode(data).has_syntax


def test_self_check_compares_fields_not_only_that_it_decodes(monkeypatch):
    """A writer bug that loses a field makes encode raise, not hand out the file."""
    real = file_format.segments_of

    def lossy(s):
        segs = real(s)
        return [g for g in segs if g.kind != 2]  # drop the PLATFORM segment

    monkeypatch.setattr(file_format, "segments_of", lossy)
    s = aigif.from_dict({"prompt": "x", "platform": {"device": "cpu"}})
    with pytest.raises(InvalidSyntax, match="platform"):
        aigif.encode(s)


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: Syntax(prompt="x", platform=Platform(threads=0)), "platform"),  # 0 threads is not writable
        (lambda: Syntax(prompt="x", steps=True), "steps"),  # a bool is not an integer field
        (lambda: Syntax(prompt="x", unknown_segments=[Segment(0x94, b"unsafe")]), "unknown"),  # unsafe-to-copy is dropped by readers
    ],
)
def test_hand_built_values_the_format_cannot_hold_are_refused(build, field):
    with pytest.raises(InvalidSyntax) as e:
        aigif.encode(build())
    assert field in str(e.value)


def test_wrong_typed_fields_are_refused_not_tracebacks():
    for s in (Syntax(prompt="x", guidance=7.5), Syntax(prompt="x", seed="5"), Syntax(prompt=b"x")):
        with pytest.raises(AigifError):
            aigif.encode(s)


def test_pack_image_with_options_refuses_instead_of_dropping(tmp_path, capsys):
    from PIL import Image

    png = tmp_path / "x.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(png)
    out = tmp_path / "x.aigif"
    code = main(["pack", "--image", str(png), "--steps", "30", "--negative", "blurry", "-o", str(out)])
    assert code == 2 and not out.exists()
    assert "--residual" in capsys.readouterr().err
    assert main(["pack", "--image", str(png), "-o", str(out)]) == 0  # pixels alone still work
    assert not aigif.read(out).has_syntax


# -- property: encode -> decode is the identity -------------------------------------------
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
repetitive = st.builds(lambda w, n: w * n, st.sampled_from(["black darkness ", ", ", "masterpiece, ", "a"]), st.integers(1, 400))
payload_st = st.builds(
    lambda kind, critical, data, codec_id: {"kind": kind, "codec": codec_id, "data": base64.b64encode(data).decode(), "critical": critical or kind == "residual"},
    st.sampled_from(["pixels", "pixels", "residual"]),
    st.booleans(),
    st.binary(max_size=40),
    st.integers(0, 1 << 20),
)


@st.composite
def full_syntaxes(draw):
    d = {"prompt": draw(st.one_of(st.just(""), text, repetitive))}  # empty prompts are where fields got lost
    options = (
        ("model", st.one_of(st.sampled_from(["sd-1.5", "tiny-sd", "tiny-sdxl", 7, 3000]), st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
                            st.builds(lambda n, fp: {"name": n, "fingerprint": fp.hex()}, st.sampled_from(["sd-1.5", "my/inline", "tiny-sd"]), st.binary(min_size=1, max_size=32)))),
        ("negative_prompt", st.one_of(text, repetitive)),
        ("seed", st.integers(0, 2**64 - 1)),
        ("steps", st.integers(1, 10000)),
        ("guidance", st.builds(lambda m, s: f"{m}e-{s}", st.integers(-10**11, 10**11), st.integers(0, 9))),
        ("width", st.integers(1, 16384)),
        ("height", st.integers(1, 16384)),
        ("scheduler", st.sampled_from(["euler", "euler_a", "ddim", "dpmpp_2m_karras", 60000])),
        ("platform", st.fixed_dictionaries({}, optional={"device": st.sampled_from(["cpu", "cuda"]), "threads": st.integers(1, 65535), "torch": st.text(max_size=20), "deterministic": st.booleans()})),
        ("fidelity", st.builds(lambda m, dg: {"method": m, "digest": dg.hex()}, st.integers(0, 255), st.binary(min_size=1, max_size=32))),
        ("extensions", st.fixed_dictionaries({}, optional={
            "clip_skip": st.integers(1, 64), "comment": text, "eta": st.floats(0, 1),
            "source": st.fixed_dictionaries({"tool": st.sampled_from(["a1111", "comfyui", "tool-99", "mytool"])}, optional={"version": st.text(max_size=8)}),
            "ext-200": st.builds(lambda b: {"critical": False, "safe_to_copy": True, "msgpack": b.hex()}, st.sampled_from([b"\x01", b"\xa1x", b"\x90"])),
        })),
        ("payloads", st.lists(payload_st, max_size=3)),
    )
    for key, strat in options:
        if draw(st.integers(0, 2)) == 0:  # each field in a third of the examples: sparse syntaxes are common
            d[key] = draw(strat)
    ps = d.get("payloads", [])
    crit = [p for p in ps if p["kind"] == "pixels" and p["critical"]]
    d["payloads"] = [p for p in ps if p["kind"] == "pixels" and not p["critical"]] + crit[:1] + [p for p in ps if p["kind"] == "residual"][:1]
    return d


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(full_syntaxes())
def test_encode_decode_is_identity_for_random_syntaxes(d):
    s = aigif.from_dict(d)
    data = aigif.encode(s)  # every syntax drawn is writable: no refusal, no loss
    back = aigif.decode(data)
    assert file_format.round_trip_mismatch(elide_defaults(s), back) is None
    assert aigif.to_dict(back, payload_data=True) == aigif.to_dict(s, payload_data=True)
    assert aigif.encode(back) == data


def test_reference_decoder_enforces_the_same_bounds():
    """spec/reference/prompt_model_decoder.py (written from the spec) refuses what the
    package refuses and decodes what it decodes."""
    import importlib.util

    import aigif.text.promptcoder.rangecoder as rc

    spec = importlib.util.spec_from_file_location("refdec", REPO / "spec" / "reference" / "prompt_model_decoder.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    saved = rc.DECISIONS_PER_BYTE
    rc.DECISIONS_PER_BYTE = 1 << 30
    try:
        dense = codec3.encode("black darkness " * 3000)
    finally:
        rc.DECISIONS_PER_BYTE = saved
    for bad in (b"", b"jb", dense):
        with pytest.raises(InvalidText):
            codec3.decode(bad, 1 << 22)
        with pytest.raises(ValueError):
            ref.decode(bad)
    for text in ("", "a", "black darkness " * 40, "masterpiece, " * 50):
        payload = codec3.encode(text)
        assert ref.decode(payload) == codec3.decode(payload, 1 << 16) == text
