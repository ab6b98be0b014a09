"""The long fuzz run: `python -m tests.fuzz --payloads 1000` (see README.md, Testing).

Sends that many generated payloads to every command (or to `--commands` only), in a fresh
lab per command group, prints progress and a summary (payloads per command, unexpected
errors, unanswered interactions, pings, other Discord rule breaks, whether the engine is
alive at the end), and exits 1 when anything was found.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from tests.fuzz.campaign import run_fuzz
from tests.fuzz.driver import FuzzReport


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--payloads", type=int, default=1000, help="payloads per command")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--commands",
        default="",
        help="comma-separated command paths or groups to fuzz, e.g. 'generate,lab' (default all)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per interaction")
    parser.add_argument("--one-lab", action="store_true", help="one lab for every command group")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # Findings come from the summary; the bot's own log and library warnings stay quiet.
    logging.basicConfig(level=logging.ERROR, handlers=[logging.NullHandler()])
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    wanted = {c.strip() for c in args.commands.split(",") if c.strip()}

    def only(spec) -> bool:
        return not wanted or spec.path in wanted or spec.group in wanted

    started = time.monotonic()
    report = FuzzReport()
    try:
        with tempfile.TemporaryDirectory(prefix="labbot-fuzz-") as folder:
            asyncio.run(
                run_fuzz(
                    Path(folder),
                    count=args.payloads,
                    seed=args.seed,
                    only=only,
                    lab_per_group=not args.one_lab,
                    timeout_s=args.timeout,
                    progress=lambda line: print(line, flush=True),
                    report=report,
                )
            )
    finally:  # the figures so far, even when the run breaks off
        print(report.summary())
    print(f"took {time.monotonic() - started:.0f} s")
    return 1 if report.findings or not report.engine_alive else 0


if __name__ == "__main__":
    sys.exit(main())
