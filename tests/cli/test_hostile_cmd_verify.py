"""Hostile input to `aigif verify` (aigif/cli/cmd_verify.py): a FIDELITY hash that does not
match, and none at all. Corrupt payloads are in test_hostile_cmd_unpack.py, which runs
both verbs.

Hostile input (see tests/harness.py): a specific aigif error and exit status, never a traceback,
an internal error, a hang, a bomb or an output file left behind.
"""

from __future__ import annotations

from aigif.errors import ExitStatus
from harness import assert_fails_cleanly, cli, user_facing_env  # noqa: F401 (fixture)
from samples import pixels_file, png_image


def test_verify_mismatch_and_missing_fidelity(tmp_path, capsys):
    wrong = tmp_path / "wrong.aigif"
    wrong.write_bytes(pixels_file(png_image((8, 8)), fidelity=b"\0" * 8))
    none = tmp_path / "none.aigif"
    none.write_bytes(pixels_file(png_image((8, 8))))
    # a hash that does not match is E_DIFFERS; no hash at all is E_NO_FIDELITY (exit 8, issue 16)
    for f, status in ((wrong, ExitStatus.DIFFERS), (none, ExitStatus.NO_METADATA)):
        code, _, err = cli(capsys, "verify", f)
        assert_fails_cleanly(code, err, status)
