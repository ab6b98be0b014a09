"""The `lab>` prompt: a triple-quoted value goes on over several typed lines."""

from __future__ import annotations

import builtins

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.session import run_interactive


async def test_a_multi_line_value_at_the_prompt(tmp_path, monkeypatch, capsys):
    typed = iter(
        [
            'as Ada roles:"Group 1"',
            "/finetune paste",
            'modal "One sentence per line":"""',
            "Whisk the eggs.",
            'Fold in the flour."""',
            "/finetune pool",
        ]
    )
    prompts: list[str] = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", fake_input)
    settings = Settings(
        runner=RunnerSettings(model="tiny", device="cpu"),
        storage=StorageSettings(data_dir=tmp_path / "data"),
    )
    assert await run_interactive(settings, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert prompts == ["lab> "] * 3 + ["... "] * 2 + ["lab> "] * 2
    assert "Added 2 sentences to Group 1's pool" in out
    assert "1. Whisk the eggs." in out and "2. Fold in the flour." in out
