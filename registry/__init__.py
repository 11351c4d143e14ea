"""The AIGIF model and scheduler index: plain data (TOML), shipped as package data.

Nothing to import here but the directory's location; aigif.registry reads the files.
"""

from pathlib import Path

REGISTRY_DIR = Path(__file__).resolve().parent
