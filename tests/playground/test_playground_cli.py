"""`labbot playground --script` end to end, as CI and newcomers run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_playground(script: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "playground",
            "--script",
            str(script),
            "--model",
            "tiny",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
    )


def test_example_script_passes(tmp_path):
    result = run_playground(ROOT / "examples" / "playground.lab", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "== LLM Lab Bot ==" in result.stdout
    assert "now acting as Ms Rivera with roles Instructor" in result.stdout
    assert "== Same prompt, four decoding methods ==" in result.stdout
    assert "saved to" in result.stdout and "nexttoken.png" in result.stdout
    assert list((tmp_path / "out").glob("*-nexttoken.png"))


def test_the_class_afternoon_script_passes(tmp_path):
    """README's CPU-class figures come from this script on gemma-offline; on `tiny` it must
    at least run: eight groups' fine-tunes at once, each group then using its model."""
    result = run_playground(ROOT / "examples" / "class-afternoon.lab", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for n in range(1, 9):
        assert f"Group {n} v1 fine-tune finished" in result.stdout
    assert result.stdout.count("Fine-tuned v1") >= 8


def test_unmet_expectation_fails_the_script(tmp_path, capsys, monkeypatch):
    """In this process (the example above covers the interpreter start): `labbot`'s main."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    script = tmp_path / "bad.lab"
    script.write_text('/help\nexpect "no such text"\n/nosuchcommand\n/explain method:greedy\n')
    code = main(["playground", "--script", str(script), "--model", "tiny", "--out", "out"])
    stdout = capsys.readouterr().out
    assert code == 1
    assert "expected the last reply to contain 'no such text'" in stdout
    assert "/nosuchcommand is not registered" in stdout
    assert "error reply: Not yet!" in stdout  # an error reply nobody expected


def test_bad_script_line_is_reported_before_starting(tmp_path):
    script = tmp_path / "bad.lab"
    script.write_text("/help\ndance\n")
    result = run_playground(script, tmp_path)
    assert result.returncode == 2
    assert "line 2: 'dance' is not a playground action" in result.stderr
