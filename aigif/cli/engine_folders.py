"""The flags of the commands that run a model (pack, unpack, verify): downloads, inline
models, device, threads, progress, and the user folders an engine reads besides the model
(A1111: LoRA, textual-inversion embeddings, VAE).  Each folder falls back to its environment
variable (aigif.diffusion.dispatch.FOLDER_SOURCES), read where the folder is used."""

from __future__ import annotations

from pathlib import Path

from ..diffusion.dispatch import FOLDER_OPTIONS, FOLDER_SOURCES
from ..errors import FileAccessError

_HELP = {"lora_dir": "LoRA files for <lora:name:weight> tags",
         "embeddings_dir": "textual-inversion embeddings",
         "vae_dir": "VAE files a file names"}


TRUST_INLINE_HELP = ("load weights from a local folder or hub repo that the file names inline (not a registry entry); "
                     "only for files you trust")


def add_generation_flags(parser, *, trust_help: str = TRUST_INLINE_HELP, threads_help: str | None =
                         "intra-op threads (default: the count the file's PLATFORM records)") -> None:
    """The flags of every command that runs a model (pack, unpack, verify): downloads, inline
    models, device, threads, progress, then the engine folders."""
    parser.add_argument("--allow-download", action="store_true",
                        help="let diffusers download pinned weights (or AIGIF_ALLOW_DOWNLOAD=1)")
    parser.add_argument("--trust-inline-model", action="store_true", help=trust_help)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help=threads_help)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    add_folder_flags(parser)


def add_folder_flags(parser) -> None:
    group = parser.add_argument_group("engine folders (files under a1111 semantics)")
    for option in FOLDER_OPTIONS:
        flag, env = FOLDER_SOURCES[option]
        group.add_argument(flag, dest=option, metavar="DIR", help=f"{_HELP[option]} (default: ${env})")


def folder_options(args) -> dict[str, str]:
    """The folders given on the command line, checked: a mistyped path is an error here,
    not a "LoRA not found" after the model has loaded."""
    given = {}
    for option in FOLDER_OPTIONS:
        value = getattr(args, option, None)
        if value is None:
            continue
        if not Path(value).is_dir():
            raise FileAccessError(f"{FOLDER_SOURCES[option][0]} {value}: not a directory")
        given[option] = value
    return given
