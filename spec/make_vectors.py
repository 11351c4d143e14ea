"""Generate the conformance vectors of spec §10 — once. They are then frozen: this script
refuses to overwrite an existing vector unless its bytes come out identical.

    python spec/make_vectors.py            # write missing vectors, check existing ones
    python spec/make_vectors.py --check    # only check

Valid vectors: NAME.aigif + NAME.json (the expected `aigif info --json`).
Invalid vectors: NAME.aigif + NAME.error (the expected error code).
Invalid files are built by hand (raw bytes, CRC recomputed) so that each one breaks
exactly one rule of the spec.
"""

from __future__ import annotations

import argparse
import binascii
import json
import sys
import zlib
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import aigif  # noqa: E402
from aigif import container  # noqa: E402
from aigif import text as textcodec  # noqa: E402
from aigif.bits import BitWriter, leb128  # noqa: E402
from aigif.segments.syntax import encode_body  # noqa: E402
from aigif.segments.platform import encode_platform  # noqa: E402
from aigif.syntax import Platform, Syntax  # noqa: E402

OUT = HERE / "vectors"
SIG = b"\xa1G"


def crc_file(body: bytes, version: int = 0x10) -> bytes:
    """signature + version + body (segments and END), then the right CRC."""
    head = SIG + bytes([version]) + body
    if version & 1:
        return head + zlib.crc32(head).to_bytes(4, "big")
    return head + binascii.crc_hqx(head, 0xFFFF).to_bytes(2, "big")


def seg(t: int, body: bytes) -> bytes:
    return bytes([t]) + leb128(len(body)) + body


def syntax_seg(d: dict, force_codec: int | None = None) -> bytes:
    s = aigif.from_dict(d) if isinstance(d, dict) else d
    return seg(0x01, encode_body(s, force_codec))


def bits(fn) -> bytes:
    w = BitWriter()
    fn(w)
    return w.getvalue()


def flags(w: BitWriter, present: set[str], reserved: int = 0) -> None:
    for name in ("model", "negative_prompt", "seed", "steps", "guidance", "width", "height", "scheduler"):
        w.flag(name in present)
    w.u(reserved, 1)


def tiny_png() -> bytes:
    import io

    from PIL import Image

    im = Image.new("RGB", (4, 3))
    im.putdata([(i * 20, 255 - i * 20, (i * 37) % 256) for i in range(12)])
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def valid_vectors() -> dict[str, bytes]:
    # The first vectors were frozen when only text codecs 0 and 1 existed; pin that set so
    # the generator keeps reproducing them byte for byte (codecs 2 and 3 have their own).
    textcodec.available = lambda: [textcodec.RAW, textcodec.ZSTD]
    v: dict[str, bytes] = {}
    v["v01-empty-prompt"] = aigif.encode(aigif.from_dict({"prompt": ""}))
    v["v02-a-cat-seed-1"] = aigif.encode(aigif.from_dict({"prompt": "a cat", "seed": 1}))
    v["v03-all-fields-raw"] = crc_file(
        syntax_seg(
            {
                "model": 4,
                "prompt": "a photograph of an astronaut riding a horse",
                "negative_prompt": "blurry, low quality",
                "seed": 3463495068,
                "steps": 30,
                "guidance": 7,
                "width": 768,
                "height": 512,
                "scheduler": 3,
            },
            textcodec.RAW,
        )
        + b"\x00"
    )
    v["v04-guidance-3.25"] = crc_file(syntax_seg({"prompt": "x", "guidance": 3.25}, 0) + b"\x00")
    v["v05-guidance-negative"] = crc_file(syntax_seg({"prompt": "x", "guidance": -1.5}, 0) + b"\x00")
    v["v06-seed-64-bit"] = crc_file(syntax_seg({"prompt": "x", "seed": (1 << 64) - 1}, 0) + b"\x00")
    v["v07-inline-model-fingerprint"] = crc_file(
        syntax_seg({"model": {"name": "my-org/my-model", "fingerprint": "cc6cb27103"}, "prompt": "x"}, 0) + b"\x00"
    )
    v["v08-unicode-every-plane"] = crc_file(
        syntax_seg({"prompt": "caf\u00e9 \u732b \U0001f98a \U00020000 \U000e0041 \U0010fffd\nline 2\t(tab)"}, 0) + b"\x00"
    )
    v["v09-zstd-prompt"] = crc_file(
        syntax_seg({"prompt": "masterpiece, best quality, " * 12 + "a castle on a hill"}, textcodec.ZSTD) + b"\x00"
    )
    v["v10-size-codes"] = crc_file(syntax_seg({"prompt": "x", "width": 800, "height": 450}, 0) + b"\x00")
    v["v11-extensions"] = aigif.encode(
        aigif.from_dict(
            {
                "prompt": "a cat <lora:fluffy:0.8>",
                "extensions": {
                    "lora": [{"name": "fluffy", "weight": 0.8, "hash": "a1b2c3d4e5"}],
                    "clip_skip": 2,
                    "source": {"tool": "AUTOMATIC1111", "version": "v1.10.1"},
                    "comment": "converted",
                },
            }
        )
    )
    unknown_ext = seg(0xC4, leb128(100) + msgpack.packb({"future": [1, 2, 3]}))
    v["v12-unknown-ancillary-extension"] = crc_file(syntax_seg({"prompt": "x"}, 0) + unknown_ext + b"\x00")
    v["v13-unknown-ancillary-segment"] = crc_file(syntax_seg({"prompt": "x"}, 0) + seg(0xD4, b"ignored by 1.0 decoders") + b"\x00")
    platform = Platform("cpu", "float32", "sdpa", True, 2, "2.14.1", "0.42.1", "5.24.0", "")
    v["v14-platform-fidelity"] = crc_file(
        syntax_seg({"prompt": "a red fox", "seed": 7}, 0)
        + seg(0x82, encode_platform(platform))
        + seg(0x83, b"\x01" + bytes.fromhex("0123456789abcdef"))
        + b"\x00"
    )
    v["v15-crc32-long-prompt"] = crc_file(syntax_seg({"prompt": "".join(chr(0x41 + i % 26) for i in range(5000))}, 0) + b"\x00", 0x11)
    v["v16-pixels-only"] = crc_file(seg(0x05, leb128(1) + tiny_png()) + b"\x00")
    explicit = bits(
        lambda w: (
            flags(w, {"model", "steps", "guidance", "width", "height", "scheduler"}),
            w.u(0, 1),
            w.ue(0),  # model ID 1, written although it is the default
            w.u(0, 1),
            w.ue(10 - 1, 4),
            w.ue(0),
            w.se(5, 3),
            w.u(1, 1),
            w.ue(0),
            w.u(1, 1),
            w.ue(0),
            w.ue(2 - 1),  # scheduler 2 (euler), tiny-sd's default
            w.ue(0),
            w.align(),
            w.raw(b"defaults written out"),
        )
    )
    v["v17-explicit-defaults"] = crc_file(seg(0x01, explicit) + b"\x00")
    v["v18-scheduler-negative"] = crc_file(syntax_seg({"prompt": "portrait", "negative_prompt": "ugly", "scheduler": 1}, 0) + b"\x00")
    v["v19-unknown-model-id"] = crc_file(syntax_seg({"model": 3000, "prompt": "x", "steps": 50}, 0) + b"\x00")
    v["v20-zstd-negative"] = crc_file(syntax_seg({"prompt": "p", "negative_prompt": "lowres, bad anatomy, " * 8}, textcodec.ZSTD) + b"\x00")
    v["v21-kept-original-pixels"] = crc_file(syntax_seg({"prompt": "x", "seed": 5}, 0) + seg(0x85, leb128(6) + tiny_png()) + b"\x00")
    # added after text codecs 2 and 3 shipped (model prompt-model-v1, dictionary prompt-dict-v1)
    v["v22-prompt-model-codec3"] = crc_file(
        syntax_seg({"model": 4, "prompt": "a beautiful painting of a castle on a hill, trending on artstation, highly detailed, 8k", "seed": 1234567890}, textcodec.PROMPT_MODEL)
        + b"\x00"
    )
    v["v23-zstd-dict-codec2"] = crc_file(
        syntax_seg({"prompt": "masterpiece, best quality, 1girl, solo, looking at viewer, smile", "negative_prompt": "lowres, bad anatomy, bad hands, worst quality"}, textcodec.ZSTD_DICT)
        + b"\x00"
    )
    v["v24-inline-model-prompt-model"] = crc_file(
        syntax_seg({"model": {"name": "juggernautXL_v9Rdphoto2Lightning", "fingerprint": "c9e3e68f89"}, "prompt": "portrait of an old fisherman, dramatic lighting"}, textcodec.PROMPT_MODEL)
        + b"\x00"
    )
    v["v25-source-tool-number"] = crc_file(
        syntax_seg({"prompt": "x"}, 0) + seg(0xC4, leb128(64) + msgpack.packb([4])) + seg(0xC4, leb128(65) + msgpack.packb("imported")) + b"\x00"
    )
    # added with revision 2 (bounded decoding, no silent field loss)
    v["v26-prompt-model-short-payload"] = crc_file(syntax_seg({"prompt": "a"}, textcodec.PROMPT_MODEL) + b"\x00")
    v["v27-pixels-with-syntax-fields"] = crc_file(
        syntax_seg({"prompt": "", "steps": 30, "negative_prompt": "blurry"}, 0) + seg(0x05, leb128(1) + tiny_png()) + b"\x00"
    )
    # added with version 1.1: generation semantics (extension 17) and embeddings (18), §7.1.1
    v["v28-a1111-semantics"] = crc_file(
        syntax_seg({"prompt": "a red cat, (masterpiece:1.2), embedding:easynegative", "seed": 1234, "steps": 20, "scheduler": 3}, 0)
        + seg(0x04, leb128(2) + msgpack.packb(2))
        + seg(0x04, leb128(10) + msgpack.packb({"ensd": 31337}))
        + seg(0x04, leb128(17) + msgpack.packb([2, "v1.10.1", {"Schedule type": "Exponential", "NGMS": 0.5, "Pad conds": True}]))
        + seg(0x04, leb128(18) + msgpack.packb([{"name": "easynegative", "hash": "c74b4e810b"}]))
        + seg(0xC4, leb128(64) + msgpack.packb([1, "v1.10.1"]))
        + b"\x00"
    )
    v["v29-comfyui-engine-number"] = crc_file(syntax_seg({"prompt": "x"}, 0) + seg(0x04, leb128(17) + msgpack.packb([3])) + b"\x00")
    v["v30-unlisted-engine-number"] = crc_file(
        syntax_seg({"prompt": "x"}, 0) + seg(0x04, leb128(17) + msgpack.packb([40, None, {"Mode": "turbo"}])) + b"\x00"
    )
    # added with version 1.1: the reduced ComfyUI graph (extension 19), §7.1.2
    hires = [
        [1, 1, [0]],                                     # 0 CheckpointLoaderSimple ckpt_name=<model>
        [2, 1, [1], 2, [0, 1]],                          # 1 CLIPTextEncode text=<prompt>
        [2, 1, [2], 2, [0, 1]],                          # 2 CLIPTextEncode text=<negative_prompt>
        [8, 1, [6], 2, [7], 3, 1],                       # 3 EmptyLatentImage
        [9, 1, [0, 0], 2, [3], 3, [4], 4, [5], 5, [8], 6, [9], 7, [1, 0], 8, [2, 0], 9, [3, 0], 10, 1],
        [12, 1, [4, 0], 2, "nearest-exact", 3, 1.5],     # 5 LatentUpscaleBy
        [9, 1, [0, 0], 2, [3], 3, 12, 4, [5], 5, "dpmpp_2m", 6, "karras", 7, [1, 0], 8, [2, 0], 9, [5, 0], 10, 0.5],
        [7, 1, [6, 0], 2, [0, 2]],                       # 7 VAEDecode
    ]
    comfy = {"prompt": "a castle on a hill", "negative_prompt": "blurry", "seed": 77, "steps": 20, "guidance": 7, "scheduler": 2}
    v["v31-comfyui-reduced-graph"] = crc_file(
        syntax_seg(comfy, 0) + seg(0x04, leb128(17) + msgpack.packb([3])) + seg(0x04, leb128(19) + msgpack.packb(hires)) + b"\x00"
    )
    v["v32-comfyui-graph-untabled-node"] = crc_file(
        syntax_seg(comfy, 0) + seg(0x04, leb128(17) + msgpack.packb([3]))
        + seg(0x04, leb128(19) + msgpack.packb(hires[:5] + [[7, 1, [4, 0], 2, [0, 2]], ["FaceDetailer", [5, 0], [0, 0]]])) + b"\x00"
    )
    v["v33-comfyui-graph-unlisted-numbers"] = crc_file(
        syntax_seg({"prompt": "x"}, 0) + seg(0x04, leb128(17) + msgpack.packb([3]))
        + seg(0x04, leb128(19) + msgpack.packb([[1, 1, "a.safetensors"], [90, 1, [0, 0], 7, "new"]])) + b"\x00"
    )
    # NVTC bitstream version 2 (spec/codecs.md §4): a frozen payload, as no pixel codec runs
    # here; tests/codecs/test_nvtc_v2.py decodes it against the symbols in its .json
    v["v40-nvtc-v2-pixels"] = crc_file(seg(0x05, leb128(16) + (HERE / "reference" / "nvtc-v2-48x40.bin").read_bytes()) + b"\x00")
    # added with version 1.2: text codec 4 (brotli). The stream is a constant, not brotli's
    # output at generation time, so that another brotli release cannot change the vector.
    v["v34-brotli-prompt"] = crc_file(
        syntax_raw(BROTLI_CAT) + b"\x00"
    )
    # text codec 5 (spec/prompt-coder.md §10): primed and in-text contexts, extra and spelled pieces, CJK pieces
    v["v35-adaptive-prompt-model-json"] = crc_file(
        syntax_seg({"prompt": '{\n    "subject": "a red fox",\n    "style": "watercolor",\n    "mood": "a red fox, zzqx zzqx"\n}', "seed": 5}, textcodec.ADAPTIVE_MODEL)
        + b"\x00"
    )
    v["v36-adaptive-prompt-model-cjk-negative"] = crc_file(
        syntax_seg({"prompt": "一只猫坐在窗台上，一只猫。", "negative_prompt": "lowres, bad anatomy, lowres"}, textcodec.ADAPTIVE_MODEL) + b"\x00"
    )
    # added with revision 3: a private registry model as a writer stores it (§6.4): its name
    # inline with the 8-byte identity fingerprint, and the fields its private defaults gave
    # written out (an inline model's absent fields are the generic defaults of §5.3)
    v["v46-private-model-name-fingerprint"] = crc_file(
        syntax_seg({"model": {"name": "my-finetune", "fingerprint": "5a1f0c3e9b27d481"}, "prompt": "a fox", "seed": 3,
                    "steps": 25, "guidance": 5, "width": 768, "height": 768, "scheduler": "euler"}, 0) + b"\x00"
    )
    # NVTC bitstream version 3 (spec/codecs.md §4.4.1): v40's payload as version 3, whose
    # pixels are exact on every machine; tests/codecs/test_nvtc_intsynth.py checks their sha256
    v["v47-nvtc-v3-pixels"] = crc_file(seg(0x05, leb128(16) + (HERE / "reference" / "nvtc-v3-48x40.bin").read_bytes()) + b"\x00")
    v["v37-adaptive-prompt-model-midjourney"] = crc_file(
        syntax_seg({"prompt": "a lighthouse in a storm, oil painting --ar 16:9 --v 7 --stylize 400", "seed": 42}, textcodec.ADAPTIVE_MODEL) + b"\x00"
    )
    # added with version 1.3: text codec 6 (spec/prompt-coder.md §11), orders 8..5 over model v1
    # Omni-ICM bitstream version 2 (spec/codecs.md §7, revision 2 of that section): features
    # pooled to a 2 x 2 grid; tests/codecs/test_omni.py checks the integers' sha256
    v["v49-omni-v2-features"] = crc_file(seg(0x05, leb128(18) + (HERE / "reference" / "omni-v2-q8-g2-200x136.bin").read_bytes()) + b"\x00")
    # NVTC bitstream version 4 (spec/codecs.md §4.3, revision 5 of §4): per-position tables;
    # tests/codecs/test_nvtc_v4.py checks its symbols' and pixels' sha256
    v["v50-nvtc-v4-pixels"] = crc_file(seg(0x05, leb128(16) + (HERE / "reference" / "nvtc-v4-48x40.bin").read_bytes()) + b"\x00")
    # group-mask version 3 (spec/codecs.md §6.1, revision 3 of §6): the streams' shared NVTC
    # fields said once; tests/codecs/test_groupmask.py checks the pixels' sha256
    v["v51-groupmask-v3"] = crc_file(seg(0x05, leb128(17) + (HERE / "reference" / "groupmask-v3-48x40.bin").read_bytes()) + b"\x00")
    v["v48-high-order-prompt-model"] = crc_file(
        syntax_seg({"prompt": "masterpiece, best quality, ultra detailed, 8k, highly detailed, sharp focus, 1girl, solo",
                    "negative_prompt": "(worst quality, low quality:1.4), lowres, bad anatomy, bad hands, text, error",
                    "seed": 7}, textcodec.HIGH_ORDER_MODEL) + b"\x00"
    )
    return v


# brotli -q 11 of "一只猫坐在窗台上，阳光洒在它的毛上。一只猫坐在窗台上。" (81 bytes of UTF-8)
BROTLI_CAT = bytes.fromhex(
    "1b5000f88d94a9b91e4ce1c8e0b5f06fdbd857ac2582d109cabe1854a3e12807e168aa54a1886f0a018ac7cb5954cb9b7209facff7f3bdaa9a3bd5f3ce20e80009"
)


# brotli -q 11 of 1 MiB of "a" (14 bytes)
BROTLI_BOMB = bytes.fromhex("5bffff8f5f222c1e0b0472ef1f00")


def syntax_raw(payload: bytes, codec: int = 4) -> bytes:
    """A SYNTAX segment whose prompt is `payload` under text codec `codec`, nothing else present."""
    return seg(0x01, bits(lambda w: (flags(w, set()), w.ue(codec), w.align(), w.raw(payload))))


def too_dense_payload(text: str) -> bytes:
    """Codec 3 as an encoder without the work bound would write it (spec/prompt-coder.md §5)."""
    import aigif.text.promptcoder.rangecoder as rc
    from aigif.text.promptcoder import codec3

    saved = rc.DECISIONS_PER_BYTE
    rc.DECISIONS_PER_BYTE = 1 << 30
    try:
        return codec3.encode(text)
    finally:
        rc.DECISIONS_PER_BYTE = saved


def invalid_vectors() -> dict[str, tuple[bytes, str]]:
    ok = syntax_seg({"prompt": "a cat", "seed": 1}, 0)
    good = crc_file(ok + b"\x00")
    e: dict[str, tuple[bytes, str]] = {}
    e["e01-empty-file"] = (b"", "E_TRUNCATED")
    e["e02-bad-signature"] = (b"\x89PNG\r\n\x1a\n" + good[3:], "E_SIGNATURE")
    e["e03-major-version-2"] = (crc_file(ok + b"\x00", 0x20), "E_VERSION")
    e["e04-truncated-in-segment"] = (good[:6], "E_TRUNCATED")
    e["e05-truncated-before-end"] = (good[: 3 + len(ok)], "E_TRUNCATED")
    e["e06-truncated-crc"] = (good[:-1], "E_TRUNCATED")
    e["e07-bad-crc"] = (good[:-1] + bytes([good[-1] ^ 0x01]), "E_CRC")
    e["e08-trailing-garbage"] = (good + b"garbage", "E_TRAILING")
    e["e09-unknown-critical-segment"] = (crc_file(ok + seg(0x14, b"new critical feature") + b"\x00"), "E_CRITICAL")
    e["e10-unknown-critical-extension"] = (crc_file(ok + seg(0x04, leb128(40) + msgpack.packb(1)) + b"\x00"), "E_CRITICAL")
    bad_utf8 = bits(lambda w: (flags(w, set()), w.ue(0), w.align(), w.raw(b"a \xff\xfe cat")))
    e["e11-invalid-utf8-prompt"] = (crc_file(seg(0x01, bad_utf8) + b"\x00"), "E_TEXT")
    e["e12-steps-over-limit"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"steps"}), w.ue(20000 - 1, 4), w.ue(0), w.align()))) + b"\x00"), "E_LIMIT")
    e["e13-width-over-limit"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"width"}), w.u(1, 1), w.ue(20032 // 64 - 1), w.ue(0), w.align()))) + b"\x00"), "E_LIMIT")
    e["e14-segment-length-over-limit"] = (crc_file(b"\x01" + leb128((1 << 28) + 1) + b"\x00"), "E_LIMIT")
    e["e15-non-minimal-length"] = (crc_file(b"\x01" + bytes([0x80 | len(ok) - 2, 0x00]) + ok[2:] + b"\x00"), "E_SEGMENT")
    platform = seg(0x82, encode_platform(Platform("cpu")))
    e["e16-syntax-not-first"] = (crc_file(platform + ok + b"\x00"), "E_SEGMENT")
    e["e17-duplicate-platform"] = (crc_file(ok + platform + platform + b"\x00"), "E_SEGMENT")
    e["e18-reserved-flag-set"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set(), reserved=1), w.ue(0), w.align()))) + b"\x00"), "E_VERSION")
    e["e19-nonzero-padding"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(0), w.u(0b101, 6), w.raw(b"x")))) + b"\x00"), "E_FIELD")
    e["e20-seed-not-canonical"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"seed"}), w.u(1, 1), w.u(7, 64), w.ue(0), w.align()))) + b"\x00"), "E_FIELD")
    e["e21-guidance-trailing-zero"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"guidance"}), w.ue(1), w.se(70, 3), w.ue(0), w.align()))) + b"\x00"), "E_FIELD")
    e["e22-bad-msgpack-extension"] = (crc_file(ok + seg(0x04, leb128(2) + b"\xc1") + b"\x00"), "E_FIELD")
    e["e23-unknown-text-codec"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(9), w.align(), w.raw(b"?")))) + b"\x00"), "E_TEXT_CODEC")
    import zstandard

    bomb = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(b"A" * (2 << 20))
    e["e24-zstd-text-bomb"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(1), w.align(), w.raw(bomb)))) + b"\x00", 0x10), "E_LIMIT")
    e["e25-no-syntax-no-pixels"] = (crc_file(platform + b"\x00"), "E_SEGMENT")
    e["e26-end-with-property-bits"] = (crc_file(ok + b"\x80"), "E_SEGMENT")
    e["e27-negative-prompt-past-end"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"negative_prompt"}), w.ue(0), w.ue(200), w.raw(b"short"), w.ue(0), w.align()))) + b"\x00"), "E_FIELD")
    e["e28-corrupt-zstd-text"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(1), w.align(), w.raw(b"\x28\xb5\x2f\xfd\x20\x05garbage")))) + b"\x00"), "E_TEXT")
    e["e29-size-not-canonical"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, {"width"}), w.u(1, 2), w.ue(512 // 8 - 1), w.ue(0), w.align()))) + b"\x00"), "E_FIELD")
    e["e30-extension-wrong-criticality"] = (crc_file(ok + seg(0xC4, leb128(2) + msgpack.packb(2)) + b"\x00"), "E_SEGMENT")
    e["e31-residual-without-syntax"] = (crc_file(seg(0x05, leb128(1) + tiny_png()) + seg(0x06, leb128(1) + b"x") + b"\x00"), "E_SEGMENT")
    e["e33-corrupt-prompt-model-text"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(3), w.align(), w.raw(b"\xff" * 12)))) + b"\x00"), "E_TEXT")
    e["e32-pixels-before-extension"] = (crc_file(ok + seg(0x85, leb128(1) + b"x") + seg(0x84 | 0x40, leb128(65) + msgpack.packb("late")) + b"\x00"), "E_SEGMENT")
    # added with revision 2: work bounded by the input
    e["e34-prompt-model-runaway"] = (bytes.fromhex("a1471001020010006a62"), "E_TEXT")  # empty codec-3 payload: > 16 implicit zeros
    dense = too_dense_payload("black darkness " * 3000)
    e["e35-prompt-model-too-dense"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(3), w.align(), w.raw(dense)))) + b"\x00"), "E_TEXT")
    over = b"a" * ((64 << 10) + 1)
    e["e36-text-payload-over-limit"] = (crc_file(seg(0x01, bits(lambda w: (flags(w, set()), w.ue(0), w.align(), w.raw(over)))) + b"\x00", 0x11), "E_LIMIT")
    neg, prompt = b"n" * 40000, b"p" * 60000  # each under 64 KiB, together over 96 KiB
    e["e37-texts-over-total-limit"] = (
        crc_file(seg(0x01, bits(lambda w: (flags(w, {"negative_prompt"}), w.ue(0), w.ue(len(neg)), w.raw(neg), w.ue(0), w.align(), w.raw(prompt)))) + b"\x00", 0x11),
        "E_LIMIT",
    )
    # added with version 1.1: the semantics extension's one encoding (§7.1.1)
    def semantics(value) -> bytes:
        return crc_file(ok + seg(0x04, leb128(17) + msgpack.packb(value)) + b"\x00")

    e["e38-semantics-engine-not-a-name"] = (semantics([True]), "E_FIELD")
    e["e39-semantics-options-not-a-map"] = (semantics([2, "v1.10.1", ["Karras"]]), "E_FIELD")
    e["e40-semantics-explicit-diffusers-default"] = (semantics([1]), "E_FIELD")
    e["e41-semantics-tabled-engine-as-string"] = (semantics(["a1111"]), "E_FIELD")
    e["e42-semantics-empty-options"] = (semantics([2, None, {}]), "E_FIELD")
    # added with version 1.1: the reduced ComfyUI graph's one encoding (§7.1.2)
    def graph(value) -> bytes:
        return crc_file(ok + seg(0x04, leb128(19) + msgpack.packb(value)) + b"\x00")

    ckpt = [1, 1, "a.safetensors"]
    e["e43-comfyui-graph-tabled-type-by-name"] = (graph([ckpt, ["VAEDecode"]]), "E_FIELD")
    e["e44-comfyui-graph-inputs-unsorted"] = (graph([ckpt, [7, 2, [0, 2], 1, [0, 0]]]), "E_FIELD")
    e["e45-comfyui-graph-forward-link"] = (graph([[7, 1, [1, 0]], ckpt]), "E_FIELD")
    e["e46-comfyui-graph-unreachable-node"] = (graph([ckpt, [8, 1, 64, 2, 64, 3, 1]]), "E_FIELD")
    e["e47-comfyui-graph-integral-float"] = (graph([[8, 1, 64, 2, 64, 3, 1.0]]), "E_FIELD")
    e["e48-comfyui-graph-untabled-node-with-literals"] = (graph([ckpt, ["FaceDetailer", [0, 0], 0.5]]), "E_FIELD")
    e["e49-comfyui-graph-empty"] = (graph([]), "E_FIELD")
    # added with version 1.2: text codec 4 (brotli), §5.5
    e["e50-brotli-byte-after-stream"] = (crc_file(syntax_raw(BROTLI_CAT + b"\x00") + b"\x00"), "E_TEXT")
    e["e51-brotli-truncated-stream"] = (crc_file(syntax_raw(BROTLI_CAT[:-1]) + b"\x00"), "E_TEXT")
    e["e52-brotli-empty-payload"] = (crc_file(syntax_raw(b"") + b"\x00"), "E_TEXT")
    # 1 MiB of 'a' in 14 bytes: refused at the text limit, not decompressed in full
    e["e53-brotli-text-bomb"] = (crc_file(syntax_raw(BROTLI_BOMB) + b"\x00"), "E_LIMIT")
    # text codec 5: a corrupt payload, and a one-byte one that reads past 16 implicit zeros
    e["e54-corrupt-adaptive-prompt-model"] = (crc_file(syntax_raw(b"\xff" * 12, 5) + b"\x00"), "E_TEXT")
    e["e55-adaptive-prompt-model-runaway"] = (crc_file(syntax_raw(b"\x01", 5) + b"\x00"), "E_TEXT")
    # added with version 1.3: the same two for text codec 6
    e["e56-corrupt-high-order-prompt-model"] = (crc_file(syntax_raw(b"\xff" * 12, 6) + b"\x00"), "E_TEXT")
    e["e57-high-order-prompt-model-runaway"] = (crc_file(syntax_raw(b"\x01", 6) + b"\x00"), "E_TEXT")
    return e


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    index = {"valid": {}, "invalid": {}}
    problems = 0
    items = [(n, d, None) for n, d in valid_vectors().items()] + [(n, d, c) for n, (d, c) in invalid_vectors().items()]
    for name, data, code in items:
        path = OUT / f"{name}.aigif"
        if path.exists():
            if path.read_bytes() != data:
                print(f"{name}: generator output differs from the frozen vector (keeping the frozen one)")
                problems += 1
            data = path.read_bytes()
        elif args.check:
            print(f"{name}: missing")
            problems += 1
            continue
        else:
            path.write_bytes(data)
        if code is None:
            expected = aigif.to_dict(aigif.decode(data))
            jpath = OUT / f"{name}.json"
            if not jpath.exists() and not args.check:
                jpath.write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            index["valid"][name] = len(data)
        else:
            epath = OUT / f"{name}.error"
            if not epath.exists() and not args.check:
                epath.write_text(code + "\n")
            index["invalid"][name] = code
    if not args.check:
        (OUT / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"{len(index['valid'])} valid, {len(index['invalid'])} invalid vectors; {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
