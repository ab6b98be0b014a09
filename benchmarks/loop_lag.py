"""How long the bot's event loop is ever held while a group fine-tunes a real model.

    python -m benchmarks.loop_lag                      # Gemma 3 270M (the `offline` extra)
    python -m benchmarks.loop_lag --model tiny --epochs 8

The unmodified bot runs against the Discord emulator at Discord's own timing (heartbeat every
41.25 s; `--time-scale 0.05` runs Discord's clocks 20 times faster, so a heartbeat is due every
2 s and missing one costs the connection). One group starts `/finetune example recipes`; while
it trains, a second student runs `/trainstep`, `/generate` and `/tokens` in a loop. Reported:

- the worst lateness of a 10 ms ticker on the bot's loop (a blocked loop delays every
  heartbeat, interaction acknowledgement and button press by that much);
- the heartbeats the emulator saw missed, and the longest gap between two of the bot's
  heartbeats (discord.py's own `latency` is not used: its heartbeat thread, starved by
  training threads, can read a whole interval);
- each command's time until its answer was complete, and the fine-tune's wall time.

The first run converts Gemma's GGUF weights (about 90 s); `--data-dir` keeps the result.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.harness import LabHarness
from discord_emulator.pace import HEARTBEAT_GRACE


class LagMeter:
    """Worst lateness of a 10 ms ticker on the running loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - due)
            self.ticks += 1

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def finished(lab: LabHarness, text: str) -> bool:
    return any(text in message.text() for message in lab.emulator.messages.values())


async def measure(args: argparse.Namespace) -> None:
    runner = RunnerSettings(model=args.model, device="cpu", max_new_tokens=40)
    settings = Settings(runner=runner, storage=StorageSettings(data_dir=args.data_dir))
    lab = LabHarness(settings, time_scale=args.time_scale)
    started = time.perf_counter()
    await lab.start(ready_timeout_s=600)
    ada = lab.actor("Ada", roles=["Group 1"])
    ben = lab.actor("Ben", roles=["Group 2"])
    for actor in (ada, ben):
        actor.timeout_s = 900
    await ben.slash("tokens", text="warm up")  # the model is loaded (converted once) here
    print(f"bot ready and model loaded in {time.perf_counter() - started:.0f} s")
    timings: dict[str, list[float]] = {"trainstep": [], "generate": [], "tokens": []}
    commands = {
        "trainstep": {"text": "The cat sat on the mat.", "steps": 3},
        "generate": {"prompt": "Once upon a time", "max_tokens": 20},
        "tokens": {"text": "Tokenisation splits words into pieces."},
    }
    with LagMeter() as meter:
        tune_started = time.perf_counter()
        await ada.slash("finetune example", name="recipes", epochs=args.epochs)
        while not finished(lab, "fine-tune finished"):
            for name, options in commands.items():
                t0 = time.perf_counter()
                await ben.slash(name, **options)
                timings[name].append(time.perf_counter() - t0)
                if finished(lab, "fine-tune finished"):
                    break
        tune_s = time.perf_counter() - tune_started
    gateway = lab.emulator.gateway
    violations = list(lab.emulator.violations)
    await lab.stop()
    print(f"model {args.model}, time scale {args.time_scale}, {args.epochs} epochs on 2 cores")
    print(f"fine-tune wall time {tune_s:.0f} s; loop ticks {meter.ticks}")
    print(f"worst event-loop lag {meter.worst * 1000:.0f} ms")
    print(f"missed heartbeats {gateway.missed_heartbeats}; contract violations {len(violations)}")
    interval_s = gateway.heartbeat_interval_ms / 1000
    print(
        f"longest gap between the bot's heartbeats {gateway.worst_heartbeat_gap_s:.2f} s"
        f" (interval {interval_s:.2f} s; Discord closes the connection past about"
        f" {interval_s * HEARTBEAT_GRACE:.2f} s)"
    )
    for name, values in timings.items():
        if values:
            print(
                f"/{name}: {len(values)} runs, median {statistics.median(values):.1f} s,"
                f" worst {max(values):.1f} s"
            )
    for violation in violations:
        print("  violation:", violation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-offline")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=Path("data/benchmarks"))
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
