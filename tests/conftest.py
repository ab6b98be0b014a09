"""Shared fixtures: no network, temporary data directories, clean settings."""

from __future__ import annotations

import os

import pytest

# Never let a test reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No LABBOT_*/DISCORD_* variables from the developer's shell, and an empty cwd."""
    for name in list(os.environ):
        if name.startswith(("LABBOT_", "DISCORD_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path
