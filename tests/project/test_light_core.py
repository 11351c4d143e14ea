"""The core stays light: importing aigif and coding files never loads torch."""

import subprocess
import sys


def test_core_does_not_import_torch():
    code = (
        "import sys, aigif\n"
        "s = aigif.from_dict({'model': 'sd-1.5', 'prompt': 'a cat', 'seed': 1, 'scheduler': 'euler_a'})\n"
        "d = aigif.encode(s); aigif.to_dict(aigif.decode(d))\n"
        "import aigif.cli.main\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"the core imported {r.stdout.strip()}"
