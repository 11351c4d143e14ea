"""The `aigif` command line: `main.py` dispatches to one `cmd_<verb>.py` per command."""
