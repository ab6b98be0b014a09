"""End-to-end fixture: the unmodified bot against the local Discord emulator, tiny model."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.exts import find_extensions
from bot.playground.harness import LabHarness

# Discord's clocks twenty times faster: heartbeats every 2 s (missing one fails the test),
# identify once per 0.25 s, rate-limit windows scaled alike.
TIME_SCALE = 0.05


@contextlib.asynccontextmanager
async def running_lab(data_dir, *, extra_extensions=(), check_contract=True, **runner):
    """Emulator + bot on `tiny` (plus test-only extensions); fails on contract violations."""
    runner_settings = dataclasses.replace(RunnerSettings(model="tiny", device="cpu"), **runner)
    settings = Settings(runner=runner_settings, storage=StorageSettings(data_dir=data_dir))
    extensions = [*find_extensions(), *extra_extensions] if extra_extensions else None
    harness = LabHarness(settings, extensions=extensions, time_scale=TIME_SCALE)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    violations = harness.emulator.violations
    if check_contract:
        assert not violations, "contract violations:\n" + "\n".join(map(str, violations))


@pytest.fixture
async def lab(tmp_path):
    """A running emulator + bot with default settings."""
    async with running_lab(tmp_path / "data") as harness:
        yield harness
