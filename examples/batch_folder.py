"""Convert a folder of syntax JSON files (the AIGIF JSON form) into .aigif files and
report the total size.

    python examples/batch_folder.py IN_DIR OUT_DIR
"""

import json
import sys
from pathlib import Path

import aigif
from aigif.errors import AigifError

in_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
out_dir.mkdir(parents=True, exist_ok=True)
total_json = total_aigif = failed = 0
for src in sorted(in_dir.glob("*.json")):
    text = src.read_text(encoding="utf-8")
    try:
        data = aigif.write(aigif.from_dict(json.loads(text)), out_dir / (src.stem + ".aigif"))
    except (AigifError, ValueError) as e:
        print(f"{src.name}: {e}")
        failed += 1
        continue
    total_json += len(text.encode())
    total_aigif += len(data)
print(f"JSON {total_json} B -> AIGIF {total_aigif} B ({failed} failed)")
