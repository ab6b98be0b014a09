"""The bot's event loop is never blocked long enough to miss a heartbeat, even while the
runner fine-tunes and runs /trainstep (Discord disconnects a bot whose heartbeats stop)."""

from __future__ import annotations

import asyncio

from discord_emulator.pace import HEARTBEAT_GRACE
from tests.e2e.test_finetune_jobs import fill_pool, wait_for_text

# Each test watches the loop with a 10 ms ticker; a tick that arrives this late means the loop
# was held by something (the bot, its charts, a sync write) for that long.
MAX_LAG_S = 0.5


class LagMeter:
    """Worst lateness of a 10 ms ticker on the running loop."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, loop.time() - due)

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def test_no_heartbeat_is_missed_during_a_fine_tune_and_trainstep(lab):
    gateway = lab.emulator.gateway
    allowed_s = gateway.heartbeat_interval_ms / 1000 * (HEARTBEAT_GRACE - 1)
    assert allowed_s > MAX_LAG_S  # a lag under the limit can never cost a heartbeat
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("tokens", text="warm up")  # model loaded before measuring
    await fill_pool(ada)
    with LagMeter() as meter:
        await ada.slash("finetune start", epochs=8)
        beats = []
        for _ in range(3):  # while the fine-tune trains
            reply = await lab.actor("Ben").slash(
                "trainstep", text="The cat sat on the mat.", steps=5
            )
            assert "after 5 steps" in reply.message.embeds[0]["title"]
            beats.append(lab.bot.latency)
        await wait_for_text(lab, "v1** fine-tune finished")
    print(f"worst event-loop lag {meter.worst * 1000:.0f} ms; heartbeat latency {beats}")
    assert gateway.missed_heartbeats == 0
    assert meter.worst < MAX_LAG_S, f"the event loop was blocked for {meter.worst:.2f} s"
    assert all(0 <= beat < MAX_LAG_S for beat in beats), beats
