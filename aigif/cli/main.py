"""`aigif` command line: dispatch to one module per verb, and the one place where
errors become exit statuses (spec §9.2).  No Python traceback reaches the user for bad
input; set AIGIF_DEBUG=1 to see one for a bug."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import AigifError, ExitStatus
from ..registry import enable_plugins
from ..version import FORMAT_VERSION, __version__
from . import cmd_codecs, cmd_export, cmd_features, cmd_import, cmd_info, cmd_pack, cmd_registry, cmd_unpack, cmd_verify

# The verbs, in the order `aigif --help` lists them: one module each, with add_parser(sub).
COMMANDS = (cmd_pack, cmd_unpack, cmd_info, cmd_verify, cmd_import, cmd_export, cmd_registry, cmd_codecs, cmd_features)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own exit code is 2 = ExitStatus.USAGE already
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.USAGE, f"aigif: usage error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aigif", description="Store AI-generated images as their generation syntax.")
    parser.add_argument("--version", action="version", version=f"aigif {__version__} (format {FORMAT_VERSION})")
    parser.add_argument(
        "--plugins", action="store_true",
        help="load registry plugins of installed packages (entry points 'aigif.registry'; also "
             "AIGIF_REGISTRY_PLUGINS=1). Off by default: loading one runs that package's code",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help(sys.stderr)
            return ExitStatus.USAGE
        if args.plugins:
            enable_plugins()
        return int(args.run(args))
    except AigifError as e:
        print(f"aigif: {e}", file=sys.stderr)
        return int(e.exit_status)
    except KeyboardInterrupt:
        print("aigif: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return ExitStatus.OK
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else ExitStatus.USAGE
    except Exception as e:  # a bug: say so plainly, keep the traceback for AIGIF_DEBUG
        if os.environ.get("AIGIF_DEBUG"):
            raise
        print(f"aigif: internal error ({type(e).__name__}: {e}); rerun with AIGIF_DEBUG=1 and report it", file=sys.stderr)
        return ExitStatus.FAILURE


def entry_point() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry_point()
