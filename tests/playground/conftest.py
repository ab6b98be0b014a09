"""A playground session in this process, on the tiny model, with its transcript kept."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.session import Playground


class Session:
    """A started `Playground` and the lines it printed."""

    def __init__(self, playground: Playground, printed: list[str]) -> None:
        self.playground, self.printed = playground, printed

    async def run(self, *lines: str) -> None:
        for line in lines:
            await self.playground.run_line(line)

    @property
    def transcript(self) -> str:
        return "\n".join(self.printed)


@contextlib.asynccontextmanager
async def session(data_dir: Path, out_dir: Path | None = None):
    """A playground on `data_dir` (kept after it stops, as `--data-dir` keeps it)."""
    settings = Settings(
        runner=RunnerSettings(model="tiny", device="cpu"),
        storage=StorageSettings(data_dir=data_dir),
    )
    printed: list[str] = []
    playground = Playground(settings, out_dir or data_dir.parent / "out", echo=printed.append)
    await playground.start()
    try:
        yield Session(playground, printed)
    finally:
        await playground.stop()
