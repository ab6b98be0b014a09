"""Shared fixtures: no network, temporary data directories, clean settings."""

from __future__ import annotations

import os

import pytest
import torch

# Never let a test reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

# The tests' models are tiny: with two cores, torch's intra-op threads in the engine's thread
# and the test's own thread only fight each other for the two cores.
torch.set_num_threads(1)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No LABBOT_*/DISCORD_* variables from the developer's shell, and an empty cwd."""
    for name in list(os.environ):
        if name.startswith(("LABBOT_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
