"""pyproject.toml lists every package directory (codecs/ is mapped to aigif_codecs)."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAPPING = {"aigif": "aigif", "aigif_codecs": "codecs", "aigif_registry": "registry"}


def test_every_package_is_listed():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for name, folder in MAPPING.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join((name, *rel.parts)))
    assert found <= listed, f"add to pyproject.toml packages: {sorted(found - listed)}"
    assert "codecs" not in listed  # never shadow the standard library
