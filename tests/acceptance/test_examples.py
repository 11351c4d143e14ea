"""The examples in examples/ keep working."""

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script, *args):
    r = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_pack_and_inspect(tmp_path):
    out = run("pack_and_inspect.py", tmp_path)
    assert "sdxl-base-1.0" in out and (tmp_path / "lighthouse.aigif").exists()


def test_batch_folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        (src / f"{i}.json").write_text(json.dumps({"prompt": f"picture number {i}", "seed": i}))
    (src / "bad.json").write_text(json.dumps({"prompt": "x", "steps": -1}))
    out = run("batch_folder.py", src, tmp_path / "out")
    assert "1 failed" in out and len(list((tmp_path / "out").glob("*.aigif"))) == 5


def test_regenerate(tmp_path):
    out = run("regenerate.py", tmp_path)
    assert "regenerated identically: True" in out
