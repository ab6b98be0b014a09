"""The shared text helpers: sizes people can read."""

from __future__ import annotations

import pytest

from bot.formatting import file_size, model_name


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (4_130, "4.1 kB"),
        (195_312, "195 kB"),
        (200_000, "200 kB"),
        (999_960, "1.0 MB"),
        (10 * 1024 * 1024, "10 MB"),
        (3_500_000_000, "3.5 GB"),
        (7_000_000_000_000, "7000 GB"),
    ],
)
def test_file_sizes_are_human_readable(n, shown):
    assert file_size(n) == shown


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("openai-community/gpt2", "GPT-2"),
        ("gemma-offline", "Gemma 3 270M"),
        ("tiny", "the random-weight test model tiny"),
        ("EleutherAI/pythia-70m", "EleutherAI/pythia-70m"),
        ("/data/models/my-gpt/", "my-gpt"),
        ("./gemma-3-270m-q4.gguf", "gemma-3-270m-q4.gguf"),
        ("", "the class's model"),
    ],
)
def test_the_model_is_named_as_people_know_it(configured, shown):
    assert model_name(configured) == shown
