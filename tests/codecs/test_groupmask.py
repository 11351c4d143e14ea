"""Group-mask structured coding (codec 17): exact group independence, selective decoding,
bounded parsing, the built-in split, and the CLI (pack --mask, info, unpack --groups)."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from aigif.errors import AigifError, CodecError, InvalidSyntax, LimitExceeded
from samples import corruptions, perturbed_image, smooth_image

aigif_codecs = pytest.importorskip("aigif_codecs")
CODECS = {c.name: c for c in aigif_codecs.list_codecs()}
pytestmark = pytest.mark.skipif(not CODECS["groupmask"].available, reason=f"groupmask: {CODECS['groupmask'].reason}")
BIG = 1 << 30


def labels_image(w: int = 96, h: int = 64) -> Image.Image:
    """Three irregular groups: labels 0 (rest), 2 (a disc), 7 (a right band with a notch)."""
    y, x = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), np.uint8)
    m[(x - 28) ** 2 + (y - 30) ** 2 < 18**2] = 2
    m[(x >= 64) & ~((y > 20) & (y < 30) & (x < 72))] = 7
    return Image.fromarray(m, "L")


@pytest.fixture(scope="module")
def coded():
    im = perturbed_image(smooth_image(96, 64, seed=31), seed=32)
    mask = labels_image()
    cid, data = aigif_codecs.encode(im, "groupmask:60", mask=mask)
    return im, mask, cid, data


def test_subset_decode_equals_full_decode_inside_the_groups(coded):
    im, mask, cid, data = coded
    assert cid == 17 and data[0] == 3  # version 3: region-coded streams, their shared NVTC fields said once
    full = np.asarray(aigif_codecs.decode(cid, data, max_pixels=BIG))
    m = np.asarray(mask)
    for groups in ([2], [0, 7], [7]):
        sub = np.asarray(aigif_codecs.decode(cid, data, max_pixels=BIG, groups=groups))
        inside = np.isin(m, groups)
        assert sub.shape == (64, 96, 4)
        assert np.array_equal(sub[..., :3][inside], full[inside])
        assert (sub[..., 3][inside] == 255).all() and (sub[..., 3][~inside] == 0).all()
    err = full.astype(np.float64) - np.asarray(im, np.float64)
    assert 10 * np.log10(255**2 / (err**2).mean()) > 18  # a real picture comes back


def test_a_group_stream_depends_only_on_its_own_pixels(coded):
    """No information crosses a group boundary: repainting every pixel outside group 2
    leaves group 2's stream byte-identical."""
    from aigif_codecs import groupmask

    im, mask, _, data = coded
    m = np.asarray(mask)
    other = np.asarray(perturbed_image(smooth_image(96, 64, seed=77), seed=78)).copy()
    other[m == 2] = np.asarray(im)[m == 2]
    _, data2 = aigif_codecs.encode(Image.fromarray(other), "groupmask:60", mask=mask)
    p1, p2 = groupmask.parse(data, max_pixels=BIG), groupmask.parse(data2, max_pixels=BIG)
    g = p1.labels().index(2)
    n = p1.entries[g][5]
    assert data[p1.offsets[g]:p1.offsets[g] + n] == data2[p2.offsets[g]:p2.offsets[g] + n]
    assert data != data2


@pytest.mark.parametrize("fill", ["mirror", "push-pull"])
def test_fill_is_a_function_of_the_inside_only(fill):
    from aigif_codecs.groupmask import fill_outside

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)
    inside = np.zeros((23, 37), bool)
    inside[5:15, 3:20] = True
    b = a.copy()
    b[~inside] = 255 - b[~inside]
    fa, fb = fill_outside(a, inside, fill), fill_outside(b, inside, fill)
    assert np.array_equal(fa, fb) and np.array_equal(fa[inside], a[inside])


def test_mirror_fill_reflects_the_group_across_its_boundary():
    from aigif_codecs.groupmask import MIRROR_REACH, fill_outside

    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)
    inside = np.zeros((40, 80), bool)
    inside[:, :40] = True  # a straight boundary between columns 39 and 40
    f = fill_outside(a, inside)
    for d in range(1, MIRROR_REACH + 1):  # column 39 + d takes 39 - d: reflected through column 39, its nearest
        assert np.array_equal(f[:, 39 + d], a[:, 39 - d])
    far = fill_outside(a, inside, "push-pull")
    assert np.array_equal(f[:, 40 + MIRROR_REACH:], far[:, 40 + MIRROR_REACH:])  # past the reach: push-pull
    with pytest.raises(InvalidSyntax, match="fill"):
        fill_outside(a, inside, "zero")


def test_bytes_read_for_a_group_are_its_stream_and_the_shared_part(coded):
    from aigif_codecs import groupmask

    _, _, _, data = coded
    p = groupmask.parse(data, max_pixels=BIG)
    for g, e in enumerate(p.entries):
        _, read = groupmask.decode(data, max_pixels=BIG, groups=[e[0]])
        assert read == p.header_bytes + e[5] < len(data)
    sizes = aigif_codecs.group_sizes(17, data, max_pixels=BIG)
    assert [s["label"] for s in sizes] == [0, 2, 7] and sum(s["pixels"] for s in sizes) == 96 * 64


def test_builtin_split_is_deterministic_and_used_without_a_mask():
    from aigif_codecs.segment import builtin_groups

    im = smooth_image(80, 48, seed=4)
    a, b = builtin_groups(im, 4), builtin_groups(im, 4)
    assert np.array_equal(a, b) and a.shape == (48, 80) and set(np.unique(a)) == set(range(a.max() + 1))
    assert 2 <= a.max() + 1 <= 4
    cid, data = aigif_codecs.encode(im, "groupmask:40/3")
    assert cid == 17 and len(aigif_codecs.group_sizes(cid, data, max_pixels=BIG)) <= 3


def test_builtin_regions_are_whole_squares_of_nvtcs_coarsest_block():
    # so that no NVTC cell or vector-transform block of any stage straddles two groups (codecs/segment.py)
    from aigif_codecs import groupmask
    from aigif_codecs.segment import BLOCK, SMALLER, builtin_groups, square_size

    from aigif_codecs.nvtc import codec as nvtc_codec
    from aigif_codecs.nvtc import parse_rate

    for q in ("40", "90"):  # both rate points' models
        cfg = nvtc_codec.load(parse_rate(q)["model"]).model.cfg
        assert cfg.block * cfg.downscale[-1] == BLOCK == groupmask.BLOCK_ALIGNED == 64
        assert cfg.downscale[-1] == SMALLER[-1]
    big = smooth_image(300, 200, seed=6)  # 5 x 4 squares of 64 px: enough for 4 groups
    assert square_size(300, 200, 4) == 64 and square_size(300, 200, 8) == 32
    lab = builtin_groups(big, 4)
    assert lab.max() >= 1
    for g, (x0, y0, w, h) in enumerate(groupmask.boxes(lab, int(lab.max()) + 1)):
        assert groupmask.is_block_aligned(lab[y0:y0 + h, x0:x0 + w] == g)
    for y in range(0, 200, 64):
        for x in range(0, 300, 64):
            assert len(np.unique(lab[y:y + 64, x:x + 64])) == 1
    im = smooth_image(100, 70, seed=5)  # too small for 64 or 32 px squares: 16, cut by the edge
    assert square_size(100, 70, 4) == 16
    lab = builtin_groups(im, 4)
    assert lab.shape == (70, 100) and lab.max() >= 1
    for y in range(0, 70, 16):
        for x in range(0, 100, 16):
            assert len(np.unique(lab[y:y + 16, x:x + 16])) == 1
    fine = builtin_groups(im, 4, block=4)
    assert any(len(np.unique(fine[y:y + 16, x:x + 16])) > 1 for y in range(0, 64, 16) for x in range(0, 96, 16))


def test_bad_inputs_are_refused(coded):
    im, mask, cid, data = coded
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(im, "groupmask:60", mask=mask.resize((50, 50)))
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(im, "groupmask:60", mask=Image.new("RGB", im.size))
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(im, "groupmask:60/3", mask=mask)
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(im, "webp:80", mask=mask)
    with pytest.raises(InvalidSyntax):
        aigif_codecs.decode(cid, data, max_pixels=BIG, groups=[5])
    with pytest.raises(InvalidSyntax):
        aigif_codecs.decode(2, aigif_codecs.encode(im, "webp:80")[1], max_pixels=BIG, groups=[0])
    with pytest.raises(LimitExceeded):
        aigif_codecs.decode(cid, data, max_pixels=96 * 64 - 1)


def _with_header(w, h, G, mask_stream, table, streams=b""):
    from aigif_codecs import groupmask

    head = groupmask.HEAD.pack(1, w, h, G, len(mask_stream))
    return head + struct.pack(">I", zlib.crc32(head + mask_stream + table)) + mask_stream + table + streams


def test_corrupt_and_hostile_payloads(coded):
    from aigif_codecs import groupmask

    _, _, cid, data = coded
    rng = random.Random(17)
    for bad in corruptions(data, rng, 25):
        with pytest.raises(AigifError):
            aigif_codecs.decode(cid, bad, max_pixels=BIG)
    # a zlib bomb in the mask stream: decompression stops one byte past W*H
    bomb = zlib.compress(b"\x00" * (1 << 22), 9)
    entry = groupmask.ENTRY.pack(0, 0, 0, 8, 8, 0)
    with pytest.raises(CodecError):
        groupmask.parse(_with_header(8, 8, 1, bomb, entry), max_pixels=BIG)
    # a box that does not bound its pixels, and a mask naming a missing group
    ok_mask = zlib.compress(b"\x00" * 64)
    with pytest.raises(CodecError):
        groupmask.parse(_with_header(8, 8, 1, ok_mask, groupmask.ENTRY.pack(0, 0, 0, 4, 8, 0)), max_pixels=BIG)
    with pytest.raises(CodecError):
        groupmask.parse(_with_header(8, 8, 1, zlib.compress(b"\x01" * 64), entry), max_pixels=BIG)
    assert groupmask.parse(_with_header(8, 8, 1, ok_mask, entry), max_pixels=BIG).labels() == [0]
    # interleaved groups whose boxes cover the image many times over: refused by both sides
    stripes = (np.arange(64 * 16).reshape(16, 64) % 16).astype(np.uint8)  # 16 column stripes, boxes 49 px wide
    with pytest.raises(InvalidSyntax):
        aigif_codecs.encode(smooth_image(64, 16), "groupmask:50", mask=Image.fromarray(stripes))
    table = b"".join(groupmask.ENTRY.pack(g, g, 0, 49, 16, 0) for g in range(16))  # the true boxes, 12x the image
    d = stripes.copy()
    d[1:] = stripes[1:] - stripes[:-1]
    with pytest.raises(CodecError, match="cover more than"):
        groupmask.parse(_with_header(64, 16, 16, zlib.compress(d.tobytes()), table), max_pixels=BIG)


def test_cli_pack_mask_info_and_unpack_groups(tmp_path, capsys):
    from aigif.cli.main import main

    im = smooth_image(64, 48, seed=8)
    im.save(tmp_path / "img.png")
    m = np.zeros((48, 64), np.uint8)
    m[:, 40:] = 3
    Image.fromarray(m).save(tmp_path / "mask.png")
    f = tmp_path / "g.aigif"
    assert main(["pack", "--image", str(tmp_path / "img.png"), "--codec", "groupmask:50", "--mask",
                 str(tmp_path / "mask.png"), "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["info", str(f)]) == 0
    out = capsys.readouterr().out
    assert "group 0" in out and "group 3" in out and "shared header+mask" in out
    import re

    import aigif
    from aigif_codecs import groupmask

    (payload,) = [p for p in aigif.decode(f.read_bytes()).payloads if p.codec_id == 17]
    parsed = groupmask.parse(payload.data, max_pixels=BIG)
    assert parsed.version == 3
    printed = {int(a): int(b) for a, b in re.findall(r"group (\d+)\s+(\d+) B", out)}
    assert printed == {e[0]: e[5] for e in parsed.entries}
    assert f"shared header+mask {parsed.header_bytes} B" in out
    assert main(["unpack", str(f), "--groups", "3", "-o", str(tmp_path / "sub.png")]) == 0
    sub = np.asarray(Image.open(tmp_path / "sub.png"))
    assert sub.shape == (48, 64, 4) and (sub[:, 40:, 3] == 255).all() and (sub[:, :40, 3] == 0).all()
    assert main(["unpack", str(f), "--groups", "1", "-o", str(tmp_path / "bad.png")]) != 0
    assert main(["pack", "--image", str(tmp_path / "img.png"), "--codec", "webp:80", "--mask",
                 str(tmp_path / "mask.png"), "-o", str(tmp_path / "w.aigif")]) != 0


# -- version 2: region coding, the run-coded mask, version 1 still read -------------------------
@pytest.fixture(scope="module")
def coded_v1(coded):
    from aigif_codecs import groupmask

    im, mask, _, _ = coded
    return groupmask.encode(im, np.asarray(mask), "60", version=1)


def test_version1_payload_still_decodes(coded, coded_v1):
    from aigif_codecs import groupmask

    im, mask, _, data = coded
    p1 = groupmask.parse(coded_v1, max_pixels=BIG)
    assert coded_v1[0] == 1 and p1.version == 1 and p1.margin is None
    full = np.asarray(aigif_codecs.decode(17, coded_v1, max_pixels=BIG))
    m = np.asarray(mask)
    sub = np.asarray(aigif_codecs.decode(17, coded_v1, max_pixels=BIG, groups=[7]))
    assert np.array_equal(sub[..., :3][m == 7], full[m == 7])
    err = full.astype(np.float64) - np.asarray(im, np.float64)
    assert 10 * np.log10(255**2 / (err**2).mean()) > 18
    # version 2 codes only the symbols near each group: every stream is shorter, the same boxes
    p2 = groupmask.parse(data, max_pixels=BIG)
    assert [e[:5] for e in p2.entries] == [e[:5] for e in p1.entries]
    assert all(e2[5] < e1[5] for e1, e2 in zip(p1.entries, p2.entries))
    assert len(data) < len(coded_v1)


def test_region_coding_with_every_pixel_is_plain_nvtc():
    """The hook is exact: a region holding every pixel codes every symbol, byte for byte the
    codec-16 payload; a smaller region codes fewer bytes and decodes only with its region."""
    from aigif_codecs.nvtc import codec

    im = perturbed_image(smooth_image(64, 48, seed=5), seed=6)
    plain = codec.encode(im, 1, q=50)
    # the padding rows 48..63 are outside any region: a margin of 16 reaches them all
    assert codec.encode(im, 1, q=50, region=np.ones((48, 64), bool), margin=16) == plain
    assert len(codec.encode(im, 1, q=50, region=np.ones((48, 64), bool), margin=0)) < len(plain)
    region = np.zeros((48, 64), bool)
    region[10:30, 5:25] = True
    part = codec.encode(im, 1, q=50, region=region, margin=0)
    assert len(part) < len(plain)
    a = np.asarray(codec.decode(part, max_pixels=BIG, region=region, margin=0))
    b = np.asarray(codec.decode(plain, max_pixels=BIG))
    err = a[region].astype(np.float64) - np.asarray(im)[region]
    assert 10 * np.log10(255**2 / (err**2).mean()) > 18 and a.shape == b.shape
    with pytest.raises(CodecError):
        codec.decode(part, max_pixels=BIG, region=region[:, :60], margin=0)
    with pytest.raises(CodecError):
        codec.decode(part, max_pixels=BIG, region=region, margin=65)
    for bad in ({"region": region, "margin": 65}, {"region": np.zeros((48, 64), bool)}, {"region": region[1:]},
                {"weight": np.zeros((48, 64))}, {"weight": np.ones((48, 63))}):
        with pytest.raises(InvalidSyntax):
            codec.encode(im, 1, q=50, **bad)


def test_coded_maps_match_the_spec_rule():
    """spec §6.3: a stage-s symbol is coded when its cell dilated by M meets the region."""
    from aigif_codecs.nvtc import codec
    from aigif_codecs.nvtc.model import NVTCConfig

    cfg = NVTCConfig()
    rng = np.random.default_rng(9)
    region = np.zeros((70, 90), bool)
    region[rng.integers(0, 70, 6), rng.integers(0, 90, 6)] = True
    Wp, Hp = 128, 128
    for margin in (0, 5, 16):
        maps = codec.coded_maps(cfg, region, margin, Wp, Hp)
        for s, d in enumerate(cfg.downscale):
            n = Wp // d
            want = []
            for by in range(n // 4):
                for bx in range(n // 4):
                    for p in range(16):
                        u, v = 4 * bx + p % 4, 4 * by + p // 4
                        y0, y1 = max(0, v * d - margin), min(Hp, (v + 1) * d + margin)
                        x0, x1 = max(0, u * d - margin), min(Wp, (u + 1) * d + margin)
                        want.append(bool(region[y0:y1, x0:x1].any()))
            assert maps[s].tolist() == want


def _v2(w, h, G, margin, method, mask_stream, table, streams=b""):
    from aigif_codecs import groupmask

    head = groupmask.HEAD_V2.pack(2, w, h, G, margin, method, len(mask_stream))
    return head + struct.pack(">I", zlib.crc32(head + mask_stream + table)) + mask_stream + table + streams


def test_hostile_version2_payloads(coded):
    from aigif_codecs import groupmask, maskcoder

    im, mask, cid, _ = coded
    data = groupmask.encode(im, np.asarray(mask), "60", version=2)
    for bad in corruptions(data, random.Random(29), 25):
        with pytest.raises(AigifError):
            aigif_codecs.decode(cid, bad, max_pixels=BIG)
    p = groupmask.parse(data, max_pixels=BIG)
    assert p.method == groupmask.RUNS and p.margin == groupmask.DEFAULT_MARGIN
    head_end = groupmask.HEAD_V2.size
    body = data[head_end + 4:p.header_bytes]
    mask_len = struct.unpack_from(">I", data, 8)[0]
    mask_stream, table = body[:mask_len], body[mask_len:]
    streams = data[p.header_bytes:]
    assert _v2(96, 64, 3, p.margin, 1, mask_stream, table, streams) == data
    for margin, method, match in ((65, 1, "margin"), (255, 1, "margin"), (8, 2, "method")):
        with pytest.raises(CodecError, match=match):
            groupmask.parse(_v2(96, 64, 3, margin, method, mask_stream, table, streams), max_pixels=BIG)
    with pytest.raises(CodecError, match="CRC"):
        groupmask.parse(data[:7] + bytes([data[7] ^ 1]) + data[8:], max_pixels=BIG)
    # the mask run stream: not whole words, garbage words, a mask of another group count
    for bad_mask in (mask_stream[:-1], b"", b"\xff" * 8, bytes(range(64))):
        with pytest.raises(CodecError):
            groupmask.parse(_v2(96, 64, 3, 8, 1, bad_mask, table, streams), max_pixels=BIG)
    # a stream decoded with another margin than it was coded with fails (or is not the same image), never crashes
    other = _v2(96, 64, 3, 0, 1, mask_stream, table, streams)
    try:
        img = groupmask.decode(other, max_pixels=BIG)[0]
        assert not np.array_equal(np.asarray(img), np.asarray(groupmask.decode(data, max_pixels=BIG)[0]))
    except CodecError:
        pass
    # a run stream that decodes more runs than the bound: a fine checkerboard mask
    cb = (np.indices((40, 64)).sum(0) % 2).astype(np.uint8)
    assert maskcoder.count_runs(cb) > maskcoder.max_runs(64, 40)
    words = maskcoder.encode(cb, 2)
    with pytest.raises(CodecError, match="runs"):
        maskcoder.decode(words, 64, 40, 2)
    table2 = groupmask.ENTRY_V2.pack(0, 0) + groupmask.ENTRY_V2.pack(1, 0)
    with pytest.raises(CodecError):
        groupmask.parse(_v2(64, 40, 2, 8, 1, words, table2), max_pixels=BIG)
    # the encoder falls back to zlib for such a mask (method 0)
    cid2, fine = aigif_codecs.encode(smooth_image(64, 40), "groupmask:40", mask=Image.fromarray(cb))
    assert groupmask.parse(fine, max_pixels=BIG).method == groupmask.ZLIB_ROWS


def test_mask_run_coder_round_trips_and_beats_zlib_on_regions():
    from aigif_codecs import groupmask, maskcoder

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:80, 0:120]
    regions = ((x + 0.3 * y > 50).astype(np.uint8) + 2 * ((x - 90) ** 2 + (y - 20) ** 2 < 300)).astype(np.uint8)
    cases = [(regions, 4), (np.zeros((5, 7), np.uint8), 1), (np.zeros((1, 1), np.uint8), 1),
             (rng.integers(0, 3, (9, 1)).astype(np.uint8), 3), (rng.integers(0, 5, (1, 33)).astype(np.uint8), 5),
             (np.repeat(rng.integers(0, 200, (6, 1)), 300, 1).astype(np.uint8), 200)]  # long runs: escapes
    for index, g in cases:
        assert np.array_equal(maskcoder.decode(maskcoder.encode(index, g), index.shape[1], index.shape[0], g), index)
    stream = maskcoder.encode(regions, 4)
    assert len(stream) < 0.6 * len(groupmask._zlib_rows(regions))  # 84 against 164 B
    # frozen (spec/codecs.md §6.4 is normative): a change of the coder's bytes is a format change
    import hashlib

    assert hashlib.sha256(stream).hexdigest() == "cbd6977f74ab23275da5cfeb0b8d9ce79992cb7ac88af5ff5a3bba5e18e5e310"


def test_version3_is_version2_without_the_streams_shared_fields(coded):
    """Version 3's stream g is version 2's NVTC payload less its first 11 bytes (version,
    model, box size, tag, Q), said once in the header: the same pixels, fewer bytes."""
    from aigif_codecs import groupmask

    im, mask, cid, v3 = coded
    v2 = groupmask.encode(im, np.asarray(mask), "60", version=2)
    p2, p3 = (groupmask.parse(d, max_pixels=BIG) for d in (v2, v3))
    assert p3.version == 3 and p2.version == 2 and len(p3.entries) == 3
    assert len(v3) == len(v2) + groupmask.TEMPLATE.size - groupmask.NVTC_FIXED * len(p3.entries)
    for g, (e2, e3) in enumerate(zip(p2.entries, p3.entries)):
        s2 = v2[p2.offsets[g]:p2.offsets[g] + e2[5]]
        s3 = v3[p3.offsets[g]:p3.offsets[g] + e3[5]]
        assert s3 == s2[groupmask.NVTC_FIXED:] and p3.nvtc_payload(g, s3) == s2
    assert np.array_equal(np.asarray(aigif_codecs.decode(cid, v2, max_pixels=BIG)),
                          np.asarray(aigif_codecs.decode(cid, v3, max_pixels=BIG)))
    for groups in ([2], [0, 7]):
        a = aigif_codecs.decode(cid, v2, max_pixels=BIG, groups=groups)
        b, read = groupmask.decode(v3, max_pixels=BIG, groups=groups)
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert read == p3.header_bytes + sum(e[5] for e in p3.entries if e[0] in groups)


def test_hostile_version3_templates(coded):
    from aigif_codecs import groupmask

    _, _, cid, data = coded
    p = groupmask.parse(data, max_pixels=BIG)
    head = groupmask.HEAD_V2.size + groupmask.TEMPLATE.size

    def with_header(h: bytes) -> bytes:
        body = data[head + 4:p.header_bytes]
        return h + struct.pack(">I", zlib.crc32(h + body)) + body + data[p.header_bytes:]

    assert with_header(data[:head]) == data
    # the template's NVTC version is checked first; any other change of it fails each stream's
    # CRC, which covers the rebuilt bytes too
    for offset, value, match in ((groupmask.HEAD_V2.size, 1, "NVTC version"), (groupmask.HEAD_V2.size, 5, "NVTC version"),
                                 (groupmask.HEAD_V2.size, 3, "CRC"), (groupmask.HEAD_V2.size + 1, 99, "CRC"),
                                 (groupmask.HEAD_V2.size + 2, data[groupmask.HEAD_V2.size + 2] ^ 1, "CRC")):
        bad = bytearray(data[:head])
        bad[offset] = value
        with pytest.raises(CodecError, match=match):
            aigif_codecs.decode(cid, with_header(bytes(bad)), max_pixels=BIG)
    with pytest.raises(CodecError, match="CRC"):
        aigif_codecs.decode(cid, data[:head - 1] + bytes([data[head - 1] ^ 1]) + data[head:], max_pixels=BIG)
    for bad in corruptions(data, random.Random(31), 25):
        with pytest.raises(AigifError):
            aigif_codecs.decode(cid, bad, max_pixels=BIG)


def test_conformance_vector_v51_pixels_are_exact():
    """spec/vectors/v51-groupmask-v3: frozen bytes whose full and one-group decodes every decoder must give."""
    import hashlib
    import json
    from pathlib import Path

    import aigif

    ref = Path(__file__).resolve().parents[2] / "spec" / "reference"
    meta = json.loads((ref / "groupmask-v3-48x40.json").read_text())
    vector = (ref.parent / "vectors" / "v51-groupmask-v3.aigif").read_bytes()
    (payload,) = [p for p in aigif.decode(vector).payloads if p.codec_id == 17]
    assert payload.data == (ref / meta["payload"]).read_bytes() and payload.data[0] == 3
    full = aigif_codecs.decode(17, payload.data, max_pixels=BIG)
    sub = aigif_codecs.decode(17, payload.data, max_pixels=BIG, groups=[5])
    assert hashlib.sha256(np.asarray(full).tobytes()).hexdigest() == meta["pixels_sha256"]
    assert hashlib.sha256(np.asarray(sub).tobytes()).hexdigest() == meta["group_5_rgba_sha256"]


def _read_shares(data: bytes) -> list[tuple[float, float]]:
    """(read share, area share) of each group: what a decoder of that group alone reads."""
    from aigif_codecs import groupmask

    p = groupmask.parse(data, max_pixels=BIG)
    counts = np.bincount(p.index.reshape(-1), minlength=len(p.entries))
    return [((p.header_bytes + e[5]) / len(data), counts[g] / p.index.size) for g, e in enumerate(p.entries)]


def _uneven_halves() -> tuple[Image.Image, np.ndarray]:
    """A 192x128 image whose left half (group 0) carries added noise: uncapped, it reads
    about 11 points more than its half.  (Big enough that the shared header and mask are a
    small part of the payload: no allocation can bring both reads under a cap otherwise.)"""
    rng = np.random.default_rng(40)
    a = np.asarray(perturbed_image(smooth_image(192, 128, seed=44), seed=45)).astype(np.int64)
    a[:, :96] += rng.integers(-30, 31, (128, 96, 3))
    labels = np.zeros((128, 192), np.uint8)
    labels[:, 96:] = 1
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), labels


def test_rate_cap_bounds_each_groups_read_share_by_its_area():
    from aigif_codecs import groupmask

    im, labels = _uneven_halves()
    free = groupmask.encode(im, labels, "60")
    assert max(read - area for read, area in _read_shares(free)) > 0.05
    capped = groupmask.encode(im, labels, "60", rate_cap=0.05)
    assert all(read <= area + 0.05 for read, area in _read_shares(capped))
    assert len(capped) < len(free)
    full = np.asarray(groupmask.decode(capped, max_pixels=BIG)[0])
    for g in (0, 1):  # still a group-mask payload: each group decodes alone to the full decode's pixels
        alone = np.asarray(groupmask.decode(capped, max_pixels=BIG, groups=[g])[0])
        assert np.array_equal(alone[..., :3][labels == g], full[labels == g])
    with pytest.raises(InvalidSyntax, match="rate cap"):
        groupmask.encode(im, labels, "60", rate_cap=0.05, version=1)


def test_a_rate_cap_no_allocation_meets_is_refused():
    # 128x64, two halves: the 37 shared bytes alone are over a tenth of any payload, so the
    # two reads cannot both be under half + 5 points.  (The first cap drove the scale to
    # float underflow here and wrote whatever that coded.)
    from aigif_codecs import groupmask

    rng = np.random.default_rng(40)
    a = np.full((64, 128, 3), 120, np.uint8)
    a[:, :64] = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    labels = np.zeros((64, 128), np.uint8)
    labels[:, 64:] = 1
    with pytest.raises(InvalidSyntax, match="rate cap 0.05: group index .* shared header and mask"):
        groupmask.encode(Image.fromarray(a), labels, "60", rate_cap=0.05)


def test_band_weight_and_fill_follow_each_groups_shape():
    """A group of whole 64-px blocks is coded with B = 4 and the mirror, a finer one with
    B = 2 and push-pull (codecs/groupmask.py: what each costs on either shape)."""
    from aigif_codecs import groupmask

    im = perturbed_image(smooth_image(192, 128, seed=41), seed=42)
    y, x = np.mgrid[0:128, 0:192]
    tile = ((x >= 64) & (x < 128) & (y < 64)).astype(np.uint8)  # both groups whole 64-px blocks
    disc = ((x - 90) ** 2 + (y - 60) ** 2 < 40 ** 2).astype(np.uint8)  # neither
    for labels, aligned in ((tile, True), (disc, False)):
        for g, (x0, y0, w, h) in enumerate(groupmask.boxes(labels, 2)):
            assert groupmask.is_block_aligned(labels[y0:y0 + h, x0:x0 + w] == g) is aligned
        b, fill = (groupmask.ALIGNED_BAND_WEIGHT, groupmask.ALIGNED_FILL) if aligned else \
            (groupmask.FINE_BAND_WEIGHT, groupmask.FINE_FILL)
        other_b, other_fill = (groupmask.FINE_BAND_WEIGHT, groupmask.FINE_FILL) if aligned else \
            (groupmask.ALIGNED_BAND_WEIGHT, groupmask.ALIGNED_FILL)
        default = groupmask.encode(im, labels, "60")
        assert default == groupmask.encode(im, labels, "60", band_weight=b, fill=fill)
        assert default != groupmask.encode(im, labels, "60", band_weight=other_b, fill=other_fill)
    assert not groupmask.is_block_aligned(np.pad(np.ones((64, 64), bool), ((0, 0), (1, 0))))  # one column off
    assert groupmask.is_block_aligned(np.ones((70, 50), bool))  # cut by the box's edge: whole


def test_cli_group_cap(tmp_path, capsys):
    from aigif.cli.main import main

    import aigif

    im, m = _uneven_halves()
    im.save(tmp_path / "img.png")
    Image.fromarray(m).save(tmp_path / "mask.png")
    base = ["pack", "--image", str(tmp_path / "img.png"), "--codec", "groupmask:60", "--mask", str(tmp_path / "mask.png")]
    assert main(base + ["--group-cap", "5", "-o", str(tmp_path / "c.aigif")]) == 0
    (payload,) = [p for p in aigif.decode((tmp_path / "c.aigif").read_bytes()).payloads if p.codec_id == 17]
    assert all(read <= area + 0.05 for read, area in _read_shares(payload.data))
    capsys.readouterr()
    for bad in (["--group-cap", "100"], ["--group-cap", "-1"]):
        assert main(base + bad + ["-o", str(tmp_path / "x.aigif")]) == 2
        assert "--group-cap" in capsys.readouterr().err
    webp = ["pack", "--image", str(tmp_path / "img.png"), "--codec", "webp:80", "--group-cap", "5"]
    assert main(webp + ["-o", str(tmp_path / "w.aigif")]) == 2
    assert main(["pack", "--prompt", "a cat", "--no-generate", "--group-cap", "5", "-o", str(tmp_path / "p.aigif")]) == 2
    assert not any((tmp_path / n).exists() for n in ("x.aigif", "w.aigif", "p.aigif"))
