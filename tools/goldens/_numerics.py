"""Import first in every golden tool: it puts the process under portable CPU numerics
(aigif/diffusion/portable.py), the profile the test suite runs under, before anything
imports torch.  Golden numbers made under it check the code bit for bit on any x86-64
machine; made without it they hold only on the CPU that made them (the goldens before
this profile were made on a machine whose oneMKL path no later machine took)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aigif.diffusion import portable  # noqa: E402

portable.load_torch()


def describe(torch) -> dict:
    """What the JSON records as "numerics": called where the tool has set its own thread
    count, so the record says what the run used."""
    return portable.describe(torch)
