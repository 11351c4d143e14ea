"""Omni-ICM (codec 18): the bitstream decodes to an integer feature array, exactly; bad
payloads are specific errors; `aigif features` and `aigif unpack` on feature files."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from aigif.cli.main import main
from aigif.errors import CodecError, ExitStatus, InvalidSyntax, LimitExceeded
from samples import smooth_image

aigif_codecs = pytest.importorskip("aigif_codecs")
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}
pytestmark = pytest.mark.skipif(not CODECS["omni"].available, reason=f"omni unavailable: {CODECS['omni'].reason}")
DATA = Path(__file__).resolve().parent / "data"
SPEC = Path(__file__).resolve().parents[2] / "spec"
BIG = 1 << 30
HEADER = 11  # bytes before the CRC


@pytest.fixture(scope="module")
def codec():
    from aigif_codecs.omni import codec

    return codec


@pytest.fixture(scope="module")
def image():
    return smooth_image(200, 136, seed=11)


@pytest.fixture(scope="module")
def payload(image):
    cid, data = aigif_codecs.encode(image, "omni:6")
    assert cid == 18
    return data


def recrc(data: bytes) -> bytes:
    return data[:HEADER] + struct.pack(">I", zlib.crc32(data[:HEADER] + data[HEADER + 4:])) + data[HEADER + 4:]


def test_round_trip_is_the_encoders_integers(codec, image, payload):
    f = aigif_codecs.features(18, payload, max_pixels=BIG)
    want = codec.quantise(codec.analyse(image), 6)
    assert f.ints.dtype == np.int8 and f.ints.shape == (32, 9, 13)  # 200x136 -> grid ceil(136/16) x ceil(200/16)
    assert np.array_equal(f.ints, want)
    assert f.step == 24 / 64 and np.array_equal(f.values(), want.astype(np.float32) * np.float32(0.375))
    assert (f.width, f.height, f.q) == (200, 136, 6)


def test_adaptation_never_costs_more_than_static_tables(codec, image):
    for q in (2, 8):
        adapted, static = codec.encode(image, q), codec.encode(image, q, adapt=False)
        assert static[10] == 0
        assert np.array_equal(aigif_codecs.features(18, adapted, max_pixels=BIG).ints,
                              aigif_codecs.features(18, static, max_pixels=BIG).ints)
        assert len(adapted) <= len(static) + 4  # one coder word of slack: the choice is by ideal code length


def test_quality_orders_rate(image):
    sizes = [len(aigif_codecs.encode(image, f"omni:{q}")[1]) for q in (1, 4, 8)]
    assert sizes[0] < sizes[1] < sizes[2]


@pytest.mark.parametrize("spec,coded", [("omni:6", "payload"), ("omni:7/2", "grid_payload")])
def test_bit_identical_with_one_and_two_threads(image, spec, coded, request):
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    try:
        out = {}
        for n in (1, 2):
            torch.set_num_threads(n)
            data = aigif_codecs.encode(image, spec)[1]
            out[n] = (data, aigif_codecs.features(18, data, max_pixels=BIG).ints.tobytes())
    finally:
        torch.set_num_threads(saved)
    assert out[1] == out[2] and out[1][0] == request.getfixturevalue(coded)


def test_conformance_payload_decodes_to_its_recorded_integers():
    """A payload written once (tests/codecs/data): its decoded integers are fixed by the spec
    and the weights on every machine, whatever computes them."""
    data = (DATA / "omni-v1-q5-200x136.bin").read_bytes()
    want = json.loads((DATA / "omni-v1-q5-200x136.json").read_text())
    f = aigif_codecs.features(18, data, max_pixels=BIG)
    assert list(f.ints.shape) == want["shape"] and f.q == want["q"]
    assert hashlib.sha256(f.ints.tobytes()).hexdigest() == want["ints_sha256"]


@pytest.mark.parametrize("cut", [0, 1, 5, HEADER + 3, HEADER + 4, -4, -1])
def test_truncated_payloads_are_codec_errors(payload, cut):
    with pytest.raises(CodecError):
        aigif_codecs.features(18, payload[:cut], max_pixels=BIG)


def test_corrupt_payloads_are_codec_errors(payload):
    flipped = bytearray(payload)
    flipped[-2] ^= 0x10
    with pytest.raises(CodecError, match="CRC"):
        aigif_codecs.features(18, bytes(flipped), max_pixels=BIG)
    # corruption with a matching CRC: every header field is still checked
    for offset, value, what in ((0, 3, "version"), (1, 0, "quality"), (1, 9, "quality"), (10, 0x0F, "adaptation"),
                                (10, 0xC0, "adaptation"), (6, payload[6] ^ 1, "other weights")):
        bad = bytearray(payload)
        bad[offset] = value
        with pytest.raises(CodecError, match=what):
            aigif_codecs.features(18, recrc(bytes(bad)), max_pixels=BIG)
    zero = bytearray(payload)
    zero[2:4] = b"\0\0"
    with pytest.raises(CodecError, match="empty"):
        aigif_codecs.features(18, recrc(bytes(zero)), max_pixels=BIG)
    # coder words replaced by garbage with a valid CRC: an error or some integers, never a crash
    garbage = payload[:HEADER + 4] + bytes(range(200, 240))
    try:
        f = aigif_codecs.features(18, recrc(garbage), max_pixels=BIG)
        assert f.ints.shape == (32, 9, 13)
    except CodecError:
        pass


def test_pixel_limit_before_anything(payload):
    with pytest.raises(LimitExceeded):
        aigif_codecs.features(18, payload, max_pixels=200 * 136 - 1)


def test_features_are_not_pixels(payload, image):
    with pytest.raises(CodecError, match="features"):
        aigif_codecs.decode(18, payload, max_pixels=BIG)
    with pytest.raises(CodecError, match="not features"):
        aigif_codecs.features(1, aigif_codecs.encode(image, "png")[1], max_pixels=BIG)
    with pytest.raises(InvalidSyntax, match="residual"):
        aigif_codecs.residual.encode(image, image, "omni:3")
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(smooth_image(40, 30, mode="RGBA"), "omni:3")


def test_codecs_json_lists_18_with_its_range(capsys):
    assert main(["codecs", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[18]["name"] == "omni" and rows[18]["rate_points"] == ["1..8", "1..8/1..4"] and rows[18]["available"]
    assert "omni:1..8" in rows[18]["specs"] and "omni:1..8/1..4" in rows[18]["specs"]


def test_cli_pack_features_unpack(tmp_path, capsys, image):
    src, f = tmp_path / "in.png", tmp_path / "x.aigif"
    image.save(src)
    assert main(["pack", "--image", str(src), "--codec", "omni:4", "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["features", str(f), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ints = np.array(doc["ints"], dtype=np.int8)
    assert doc["codec"] == 18 and doc["q"] == 4 and ints.shape == tuple(doc["shape"]) == (32, 9, 13)
    assert np.array_equal(np.array(doc["features"], np.float32), ints.astype(np.float32) * np.float32(doc["step"]))
    out = tmp_path / "f.npy"
    assert main(["features", str(f), "-o", str(out)]) == 0
    arr = np.load(io.BytesIO(out.read_bytes()), allow_pickle=False)
    assert arr.dtype == np.float32 and np.array_equal(arr, ints.astype(np.float32) * np.float32(doc["step"]))
    assert main(["features", str(f), "--ints", "-o", str(out)]) == 0
    assert np.array_equal(np.load(out, allow_pickle=False), ints)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy", "in.png", "x.aigif"]  # no temporary left
    capsys.readouterr()
    png = tmp_path / "out.png"
    assert main(["unpack", str(f), "-o", str(png)]) == ExitStatus.CODEC
    err = capsys.readouterr().err
    assert "E_CODEC" in err and "features" in err and "Traceback" not in err and not png.exists()


def test_cli_features_of_a_pixels_file_is_a_clear_error(tmp_path, capsys, image):
    src, f = tmp_path / "in.png", tmp_path / "p.aigif"
    image.save(src)
    assert main(["pack", "--image", str(src), "--codec", "png", "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["features", str(f)]) == ExitStatus.CODEC
    assert "not Omni-ICM features" in capsys.readouterr().err
    assert main(["features", str(f), "-o", str(tmp_path / "f.txt")]) == ExitStatus.USAGE


# -- bitstream version 2: the features pooled to a G x G grid (omni:Q/G) -------------------
GRID_HEADER = 12  # bytes before the CRC in version 2


@pytest.fixture(scope="module")
def grid_payload(image):
    cid, data = aigif_codecs.encode(image, "omni:7/2")
    assert cid == 18 and data[0] == 2 and data[10] == 2
    return data


def regrid_crc(data: bytes) -> bytes:
    h = GRID_HEADER
    return data[:h] + struct.pack(">I", zlib.crc32(data[:h] + data[h + 4:])) + data[h + 4:]


@pytest.mark.parametrize("grid", [1, 2, 3, 4])
def test_grid_round_trip_is_the_pooled_features_integers(codec, image, grid):
    from aigif_codecs.omni.preprocess import pool

    data = aigif_codecs.encode(image, f"omni:6/{grid}")[1]
    f = aigif_codecs.features(18, data, max_pixels=BIG)
    want = codec.quantise(pool(codec.analyse(image), grid), 6)
    assert f.ints.shape == (32, grid, grid) and f.grid == grid and f.q == 6
    assert np.array_equal(f.ints, want)
    assert len(data) < len(aigif_codecs.encode(image, "omni:6")[1]) / 4  # a few cells instead of 9 x 13 locations


def test_pool_is_adaptive_average_pooling(codec, image):
    torch = pytest.importorskip("torch")
    from torch.nn import functional as F

    from aigif_codecs.omni.preprocess import pool

    y = codec.analyse(image)  # 9 x 13 locations: 3 and 4 divide neither side evenly
    for g in (1, 2, 3, 4):
        want = F.adaptive_avg_pool2d(torch.from_numpy(y)[None], g)[0].numpy()
        assert np.allclose(pool(y, g), want, atol=1e-5)
    assert pool(y[:, :1, :3], 4).shape == (32, 1, 3)  # a side with fewer locations keeps them


def test_grid_of_a_small_image_keeps_its_locations():
    small = smooth_image(40, 20, seed=3)  # 2 x 3 locations
    f = aigif_codecs.features(18, aigif_codecs.encode(small, "omni:5/4")[1], max_pixels=BIG)
    assert f.ints.shape == (32, 2, 3)


def test_grid_spec_strings_are_checked(image):
    for spec in ("omni:5/0", "omni:5/5", "omni:9/2", "omni:5/2/1", "omni:/2"):
        with pytest.raises(InvalidSyntax):
            aigif_codecs.encode(image, spec)


def test_grid_conformance_payload_decodes_to_its_recorded_integers():
    data = (SPEC / "reference" / "omni-v2-q8-g2-200x136.bin").read_bytes()
    want = json.loads((SPEC / "reference" / "omni-v2-q8-g2-200x136.json").read_text())
    # spec vector v49 carries the same payload in a file
    vector = (SPEC / "vectors" / "v49-omni-v2-features.aigif").read_bytes()
    assert data in vector
    f = aigif_codecs.features(18, data, max_pixels=BIG)
    assert data[0] == 2 and (f.q, f.grid) == (want["q"], want["grid"]) == (8, 2)
    assert list(f.ints.shape) == want["shape"] == [32, 2, 2]
    assert hashlib.sha256(f.ints.tobytes()).hexdigest() == want["ints_sha256"]


@pytest.mark.parametrize("cut", [1, 6, GRID_HEADER, GRID_HEADER + 3, -4, -1])
def test_truncated_grid_payloads_are_codec_errors(grid_payload, cut):
    with pytest.raises(CodecError):
        aigif_codecs.features(18, grid_payload[:cut], max_pixels=BIG)


def test_corrupt_grid_headers_are_codec_errors(codec, grid_payload, payload):
    for offset, value, what in ((10, 0, "grid"), (10, 5, "grid"), (10, 255, "grid"), (0, 3, "version"),
                                (1, 9, "quality"), (11, 0x0F, "adaptation"), (6, grid_payload[6] ^ 1, "other weights")):
        bad = bytearray(grid_payload)
        bad[offset] = value
        with pytest.raises(CodecError, match=what):
            aigif_codecs.features(18, regrid_crc(bytes(bad)), max_pixels=BIG)
    # a version-2 payload names the grids file, not the weights: the weights' tag is refused
    assert grid_payload[6:10] != payload[6:10]
    bad = bytearray(grid_payload)
    bad[6:10] = payload[6:10]
    with pytest.raises(CodecError, match="other weights"):
        aigif_codecs.features(18, regrid_crc(bytes(bad)), max_pixels=BIG)
    # a version-1 payload relabelled as version 2 (one header byte short): refused, never misread
    relabelled = bytearray(payload)
    relabelled[0] = 2
    with pytest.raises(CodecError):
        aigif_codecs.features(18, bytes(relabelled), max_pixels=BIG)


def test_grids_file_of_other_weights_is_refused(tmp_path, monkeypatch, codec):
    """A grids file is used only when its sha256 is the zoo's and it names the installed weights."""
    import hashlib as h

    from safetensors.torch import save_file

    torch = pytest.importorskip("torch")
    fake = tmp_path / "grids.safetensors"
    save_file({"tables.freq.grid": torch.ones((4, 8, 32, 127), dtype=torch.uint16)}, str(fake),
              metadata={"weights_sha256": "0" * 64})
    monkeypatch.setattr(codec, "grids_path", lambda: fake)
    monkeypatch.setattr(codec, "GRIDS_SHA256", h.sha256(fake.read_bytes()).hexdigest())
    codec.load_grids.cache_clear()
    try:
        with pytest.raises(CodecError, match="other weights"):
            codec.load_grids()
        monkeypatch.setattr(codec, "GRIDS_SHA256", "1" * 64)
        codec.load_grids.cache_clear()
        with pytest.raises(CodecError, match="sha256"):
            codec.load_grids()
    finally:
        codec.load_grids.cache_clear()


def test_cli_pack_features_of_a_grid(tmp_path, capsys, image):
    src, f = tmp_path / "in.png", tmp_path / "g.aigif"
    image.save(src)
    assert main(["pack", "--image", str(src), "--codec", "omni:8/2", "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["features", str(f), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["q"] == 8 and doc["shape"] == [32, 2, 2] and doc["grid"] == 2
    assert main(["features", str(f)]) == 0
    assert "2 x 2 grid" in capsys.readouterr().out
