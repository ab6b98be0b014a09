"""End-to-end fixture: the unmodified bot against the local Discord emulator, tiny model."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.harness import LabHarness


@contextlib.asynccontextmanager
async def running_lab(data_dir, **runner):
    """Emulator + bot on `tiny`; fails if the bot broke any contract rule."""
    runner_settings = dataclasses.replace(RunnerSettings(model="tiny", device="cpu"), **runner)
    settings = Settings(runner=runner_settings, storage=StorageSettings(data_dir=data_dir))
    harness = LabHarness(settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    violations = harness.emulator.violations
    assert not violations, "contract violations:\n" + "\n".join(map(str, violations))


@pytest.fixture
async def lab(tmp_path):
    """A running emulator + bot with default settings."""
    async with running_lab(tmp_path / "data") as harness:
        yield harness
