"""Generate with the embedded default model, store the syntax, regenerate from the file
and check the two images are identical (needs aigif[generate]).

    python examples/regenerate.py OUT_DIR
"""

import sys
from pathlib import Path

import aigif
from aigif.fidelity import fidelity_of

out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
syntax = aigif.from_dict({"prompt": "a red fox in the snow", "seed": 7})
image = aigif.generate(syntax)
syntax.fidelity = fidelity_of(image)
data = aigif.write(syntax, out_dir / "fox.aigif")

again = aigif.unpack(out_dir / "fox.aigif")
same = again.tobytes() == image.tobytes()
print(f"fox.aigif: {len(data)} bytes for a {image.width}x{image.height} image; regenerated identically: {same}")
sys.exit(0 if same else 1)
