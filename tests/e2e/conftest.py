"""End-to-end fixture: the unmodified bot against the local Discord emulator, tiny model."""

from __future__ import annotations

import pytest

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.harness import LabHarness


@pytest.fixture
async def lab(tmp_path):
    """A running emulator + bot; fails the test if the bot broke any contract rule."""
    settings = Settings(
        runner=RunnerSettings(model="tiny", device="cpu"),
        storage=StorageSettings(data_dir=tmp_path / "data"),
    )
    harness = LabHarness(settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
    violations = harness.emulator.violations
    assert not violations, "contract violations:\n" + "\n".join(map(str, violations))
