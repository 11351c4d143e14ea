"""The package's version and the version of the file format it writes (spec §1).

A module of its own in the lowest layer, so that the CLI and the package's __init__ both
read it without the CLI importing the public API above it."""

__version__ = "0.1.0"
FORMAT_VERSION = "1.0"
