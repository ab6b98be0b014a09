"""Shared fixtures of the runner's tests."""

from __future__ import annotations

import pytest
import torch

from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny
from tests.model_runner.test_adapters import save_adapter


@pytest.fixture(scope="module")
def gpt2():
    """A tiny GPT-2 with sharper distributions than raw random weights (fewer loops)."""
    model, _ = build_tiny(seed=3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(6)
    return model


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
