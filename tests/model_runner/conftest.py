"""Shared fixtures of the runner's tests."""

from __future__ import annotations

import pytest

from model_runner.runner import ModelRunner, RunnerConfig
from tests.model_runner.test_adapters import save_adapter


@pytest.fixture
async def runner(tmp_path):
    """A started runner on the tiny model, its data (adapters) under tmp_path."""
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    yield runner
    await runner.close()


@pytest.fixture
async def tuned(tmp_path):
    """A started runner like `runner`, with one saved adapter, `group-a-v1` (seed 1)."""
    save_adapter(tmp_path / "adapters" / "group-a-v1", seed=1)
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    yield runner
    await runner.close()
