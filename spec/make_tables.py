"""Write spec/registry-tables.md from registry/: the normative ID tables of spec §6.

    python spec/make_tables.py          # rewrite
    python spec/make_tables.py --check  # exit 1 if the file is out of date (a test runs this)
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from aigif.registry import load_registry  # noqa: E402


def render() -> str:
    reg = load_registry(builtin=HERE.parent / "registry", user=Path("/nonexistent"), entry_points=False)
    out = [
        "# AIGIF 1.0 registry tables (normative)",
        "",
        "Generated from `registry/` by `spec/make_tables.py`; do not edit by hand. An official model ID",
        "and its defaults never change (spec §5.3, §6.1): absent SYNTAX fields take these values.",
        "",
        "## Models",
        "",
        "| ID | name | family | steps | guidance | width | height | scheduler | negative prompt |",
        "|---:|---|---|---:|---:|---:|---:|---|---|",
    ]
    for e in sorted(reg.models.values(), key=lambda e: e.id):
        d = e.defaults
        sched = reg.find_scheduler(d.scheduler)
        neg = d.negative_prompt.replace("|", "\\|") or "(empty)"
        out.append(f"| {e.id} | {e.name} | {e.family} | {d.steps} | {d.guidance} | {d.width} | {d.height} | {sched.name} ({d.scheduler}) | {neg} |")
    out += ["", "## Schedulers", "", "| ID | name | diffusers class | config overrides | approximate |", "|---:|---|---|---|---|"]
    for s in sorted(reg.schedulers.values(), key=lambda s: s.id):
        cfg = ", ".join(f"`{k}={v}`" for k, v in s.config.items()) or "—"
        out.append(f"| {s.id} | {s.name} | {s.diffusers_class} | {cfg} | {'yes' if s.approximate else ''} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    target = HERE / "registry-tables.md"
    text = render()
    if "--check" in sys.argv:
        ok = target.exists() and target.read_text() == text
        print("up to date" if ok else "spec/registry-tables.md is out of date: run python spec/make_tables.py")
        sys.exit(0 if ok else 1)
    target.write_text(text)
    print(f"wrote {target}")
