"""The CLI's verbs are a static list (aigif/cli/main.py COMMANDS): every cmd_ module is in
it, each registers the verb its module is named after, and the exit statuses are the
ExitStatus enum's (spec §9.2)."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from aigif.cli import main as cli_main

CLI = Path(cli_main.__file__).parent


def test_every_cmd_module_is_a_listed_verb():
    on_disk = sorted(p.stem for p in CLI.glob("cmd_*.py"))
    listed = sorted(m.__name__.rsplit(".", 1)[1] for m in cli_main.COMMANDS)
    assert listed == on_disk


def test_each_module_registers_its_own_verb():
    parser = cli_main.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    verbs = list(sub.choices)
    assert verbs == [m.__name__.rsplit(".cmd_", 1)[1] for m in cli_main.COMMANDS]


def test_no_bare_integer_exit_status():
    # `return 0` in a verb's run() would bypass ExitStatus (spec §9.2); look at every
    # return of a literal int in the CLI's modules
    found = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant) and type(node.value.value) is int:
                found.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("exit", "SystemExit"):
                if node.args and isinstance(node.args[0], ast.Constant) and type(node.args[0].value) is int:
                    found.append(f"{path.name}:{node.lineno}")
    assert not found, found
