"""A whole fuzz run: payloads for every command, labs to run them in, the final engine check.

`run_fuzz` starts the bot and the emulator (`tests.e2e.conftest.running_lab`, tiny model),
reads the commands from the bot's tree, and sends `count` payloads per command. Server
settings and cooldowns are reset between command groups and after every instructor command.
With `lab_per_group` each top-level command group gets a fresh lab (the long run: state and
memory stay small). When the model stops answering, that is a finding and the run goes on
in a fresh lab. At the end a plain /generate must still be answered.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import running_lab
from tests.fuzz.driver import Finding, FuzzDriver, FuzzReport
from tests.fuzz.generate import CommandSpec, Generator, Payload, command_specs


def registered_leaves(emulator) -> set[str]:
    """Every (sub)command path the bot registered with the emulator."""
    leaves = set()

    def visit(item, path):
        subs = [o for o in item.get("options") or [] if o["type"] in (1, 2)]
        for sub in subs:
            visit(sub, f"{path} {sub['name']}")
        if not subs:
            leaves.add(path)

    for scope in emulator.commands.values():
        for name, command in scope.items():
            visit(command, name)
    return leaves


async def run_fuzz(
    data_root: Path,
    *,
    count: int,
    seed: int,
    only: Callable[[CommandSpec], bool] | None = None,
    lab_per_group: bool = False,
    timeout_s: float = 30.0,
    progress: Callable[[str], None] | None = None,
    report: FuzzReport | None = None,
) -> FuzzReport:
    """Fuzz every command (or those `only` keeps) with `count` payloads each, recording into
    `report` (a new one by default; pass one to keep the figures if the run breaks off)."""
    report = FuzzReport() if report is None else report
    generator = Generator(seed)
    pending: collections.deque[tuple[CommandSpec, Payload]] | None = None
    started = time.monotonic()
    labs = 0
    while pending is None or pending:
        labs += 1
        async with running_lab(data_root / f"lab{labs}", check_contract=False) as harness:
            if pending is None:
                specs = [s for s in command_specs(harness.bot.tree) if only is None or only(s)]
                report.registered = registered_leaves(harness.emulator)
                pending = collections.deque(
                    (spec, payload) for spec in specs for payload in generator.payloads(spec, count)
                )
                total = len(pending)
            with FuzzDriver(harness, report, timeout_s=timeout_s) as driver:
                group = None
                while pending:
                    spec, payload = pending[0]
                    if spec.group != group:
                        if lab_per_group and group is not None:
                            break
                        await driver.reset_limits()
                        group = spec.group
                    pending.popleft()
                    unanswered = report.count("unanswered")
                    await driver.run(payload, instructor_command=spec.instructor)
                    if report.count("unanswered") > unanswered and not await driver.engine_alive():
                        report.findings.append(
                            Finding(
                                "engine",
                                payload.command,
                                payload.describe(),
                                "the model stopped answering after this payload "
                                "(a plain /generate got no text); going on in a fresh lab",
                            )
                        )
                        break
                    done = total - len(pending)
                    if progress is not None and done % 250 == 0:
                        progress(
                            f"{done}/{total} payloads, {len(report.findings)} findings, "
                            f"{time.monotonic() - started:.0f} s"
                        )
                driver.collect(f"{group} (end of its lab)", full=True)
                if not pending:
                    report.engine_alive = await driver.engine_alive()
    return report
