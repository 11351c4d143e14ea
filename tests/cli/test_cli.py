"""The CLI: pack/info round trips, the dev records, exit codes without tracebacks."""

import json
import subprocess
import sys

import pytest

from aigif.cli.main import main

from conftest import shared


def run_cli(*args):
    r = subprocess.run([sys.executable, "-m", "aigif", *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def test_pack_no_generate_then_info_json(tmp_path):
    out = tmp_path / "a.aigif"
    # tiny-sd is registry ID 1, the model an absent field means (spec §5.3), so it is elided;
    # pack's own default (shapes-sd) is written out (tests/acceptance/test_default_model.py)
    code, _, err = run_cli("pack", "--no-generate", "--model", "tiny-sd", "--prompt", "a cat", "--seed", "1", "-o", str(out))
    assert code == 0, err
    code, stdout, _ = run_cli("info", "--json", str(out))
    assert code == 0
    assert json.loads(stdout) == {"prompt": "a cat", "seed": 1}


def test_pack_syntax_json_round_trip(tmp_path, capsys):
    x = {
        "model": "runwayml/stable-diffusion-v1-5",
        "prompt": "portrait of a woman, (freckles:1.2), <lora:detail:0.6>\nBREAK\nsoft light",
        "negative_prompt": "blurry",
        "seed": 123456789,
        "steps": 28,
        "guidance": 6.5,
        "width": 832,
        "height": 1216,
        "scheduler": "DPM++ 2M Karras",
        "extensions": {"clip_skip": 2},
    }
    src = tmp_path / "x.json"
    src.write_text(json.dumps(x))
    assert main(["pack", "--no-generate", "--syntax", str(src), "-o", str(tmp_path / "x.aigif")]) == 0
    capsys.readouterr()
    assert main(["info", "--json", str(tmp_path / "x.aigif")]) == 0
    got = json.loads(capsys.readouterr().out)
    expected = dict(x, model="sd-1.5", scheduler="dpmpp_2m_karras")
    assert got == expected


def dev_record_to_json(r):
    d = {"model": "CompVis/stable-diffusion-v1-4", "prompt": r["prompt"]}
    for src, dst in (("negative_prompt", "negative_prompt"), ("seed", "seed"), ("steps", "steps"), ("cfg", "guidance"),
                     ("sampler", "scheduler"), ("width", "width"), ("height", "height")):
        if r.get(src) is not None:
            d[dst] = r[src]
    return d


def test_every_dev_record_round_trips():
    """Acceptance: each dev record, mapped to the JSON form, comes back normalised."""
    import aigif

    path = shared("records", "dev.jsonl")
    n = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        d = dev_record_to_json(json.loads(line))
        s = aigif.from_dict(d)
        back = aigif.to_dict(aigif.decode(aigif.encode(s)))
        assert back == aigif.to_dict(s)
        # normalised = the input with canonical names and defaults removed
        assert back["prompt"] == d["prompt"] and back.get("seed", 0) == d.get("seed", 0)
        assert back["model"] == "sd-1.4"
        n += 1
    assert n == 2366


@pytest.mark.parametrize(
    "args, status",
    [
        (["info", "/nonexistent/file.aigif"], 12),
        (["pack", "--no-generate", "--prompt", "x", "--steps", "0", "-o", "/tmp/never.aigif"], 2),
        (["pack", "--no-generate", "--prompt", "x", "--scheduler", "no-such-sampler", "-o", "/tmp/never.aigif"], 2),
        (["frobnicate"], 2),
        (["registry", "show", "no-such-model"], 6),
    ],
)
def test_errors_have_exit_codes_and_no_traceback(args, status):
    code, _, err = run_cli(*args)
    assert code == status, err
    assert "Traceback" not in err and err.startswith(("aigif:", "usage:"))


def test_bad_input_leaves_no_partial_output(tmp_path):
    out = tmp_path / "never.aigif"
    code = main(["pack", "--no-generate", "--prompt", "\ud800", "-o", str(out)])
    assert code == 2 and not out.exists() and list(tmp_path.iterdir()) == []


def test_info_text_shows_segment_costs(tmp_path):
    out = tmp_path / "c.aigif"
    assert main(["pack", "--no-generate", "--prompt", "a cat", "--seed", "1", "-o", str(out)]) == 0
    code, stdout, _ = run_cli("info", str(out))
    assert code == 0 and "SYNTAX" in stdout and "(default)" in stdout


@pytest.mark.parametrize("codec", ["png", "verbatim", "webp:lossless"])
def test_pixel_fallback_round_trips_losslessly(tmp_path, capsys, codec):
    from PIL import Image

    im = Image.new("RGB", (37, 23))
    im.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256) for y in range(23) for x in range(37)])
    src = tmp_path / "photo.png"
    im.save(src)
    f = tmp_path / "photo.aigif"
    assert main(["pack", "--image", str(src), "--codec", codec, "-o", str(f)]) == 0
    assert main(["unpack", str(f), "-o", str(tmp_path / "back.png")]) == 0
    assert "bit-exact (pixels)" in capsys.readouterr().out
    assert Image.open(tmp_path / "back.png").convert("RGB").tobytes() == im.tobytes()


def test_unpack_reference_reports_psnr_and_says_when_lpips_is_unavailable(tmp_path, capsys):
    from PIL import Image

    from aigif import metrics

    im = Image.new("RGB", (32, 32), (120, 60, 30))
    src = tmp_path / "p.png"
    im.save(src)
    f = tmp_path / "p.aigif"
    assert main(["pack", "--image", str(src), "--codec", "webp:50", "-o", str(f)]) == 0
    capsys.readouterr()
    assert main(["unpack", str(f), "-o", str(tmp_path / "o.png"), "--reference", str(src)]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and " dB" in out
    available, why = metrics.lpips_status()
    assert ("LPIPS unavailable" in out and why in out) if not available else "LPIPS 0." in out
