"""ARCHITECTURE.md's "Where is byte X written" table names functions that exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ARCH = Path(__file__).resolve().parents[2] / "ARCHITECTURE.md"
SPEC = Path(__file__).resolve().parents[2] / "spec" / "AIGIF.md"


def _rows() -> list[tuple[str, list[str]]]:
    text = ARCH.read_text(encoding="utf-8")
    section = text.split("## Where is byte X written", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith(("§", "whole")):
            rows.append((cells[0], re.findall(r"`([\w.]+:[\w.]+)`", cells[2])))
    return rows


def _resolve(ref: str):
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(f"aigif.{module}")
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def test_the_table_covers_the_byte_sections():
    keys = " ".join(k for k, _ in _rows())
    for section in ("§3.1", "§3.2", "§3.3", "§3.6", "§5.1", "§5.5", "§7.1", "§7.3", "§7.4.1", "§7.5"):
        assert section in keys, section


def test_every_named_function_exists():
    rows = _rows()
    assert rows and all(refs for _, refs in rows), rows
    missing = []
    for key, refs in rows:
        for ref in refs:
            try:
                assert callable(_resolve(ref))
            except (ImportError, AttributeError, AssertionError):
                missing.append(f"{key}: {ref}")
    assert not missing, missing


def test_section_titles_match_the_spec():
    # "§7.4 PIXELS and RESIDUAL" names the heading "7.4 PIXELS (kind 5) and RESIDUAL (kind 6)"
    headings = {}
    for number, title in re.findall(r"^#+ (\d+(?:\.\d+)*)\.? (.+)$", SPEC.read_text(encoding="utf-8"), re.M):
        headings[number] = re.sub(r"\s*\([^)]*\)", "", title).replace("`", "").strip()
    for key, _ in _rows():
        for part in key.split(" / "):
            m = re.fullmatch(r"§([\d.]+) (.+)", part)
            if m:
                assert headings.get(m.group(1)) == m.group(2), (part, headings.get(m.group(1)))
