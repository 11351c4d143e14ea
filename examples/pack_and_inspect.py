"""Pack a syntax into a .aigif file without running a model, then read it back.

    python examples/pack_and_inspect.py OUT_DIR
"""

import json
import sys
from pathlib import Path

import aigif

out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
syntax = aigif.from_dict(
    {
        "model": "stabilityai/stable-diffusion-xl-base-1.0",
        "prompt": "a lighthouse on a cliff at dawn, oil painting",
        "negative_prompt": "blurry, low quality",
        "seed": 1234,
        "steps": 30,
        "guidance": 6.5,
        "scheduler": "DPM++ 2M Karras",
    }
)
path = out_dir / "lighthouse.aigif"
data = aigif.write(syntax, path)
print(f"{path}: {len(data)} bytes")

again = aigif.read(path)
print(json.dumps(aigif.to_dict(again), indent=2))
costs, overhead = aigif.inspect(data)
for c in costs:
    print(f"  {c.name}: {c.framed_bytes} B")
print(f"  framing: {overhead} B")
