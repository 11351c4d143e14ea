"""AIGIF's fuzz harness (not an installed package: run it from the repository root).

    .venv/bin/python -m fuzz --time 600            # or: make fuzz FUZZ_TIME=600

See fuzz/run.py for the targets and options, fuzz/worker.py for the per-input limits,
fuzz/regressions.py for the reproducers of issue 9 that tests/fuzz/test_fuzz_regressions.py
replays.
"""
