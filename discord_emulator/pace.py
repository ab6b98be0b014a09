"""Discord's clocks and limits, with one scale factor so that tests can run them faster.

`Pace(scale=1.0)` is Discord's own timing; `Pace(scale=0.05)` runs every window twenty times
faster (a 2 s heartbeat instead of 41.25 s, identify once per 0.25 s) while keeping every
count, so a client is held to the same rules in a fraction of the time. Sources (Discord's
gateway and rate-limit documentation):

- HELLO's `heartbeat_interval` is 41,250 ms; "if your app fails to send a heartbeat event in
  time, your connection will be closed and you will be forced to Resume". How late Discord
  tolerates is not documented; the emulator allows half an interval (`HEARTBEAT_GRACE`).
- "Apps can send 120 gateway events per connection every 60 seconds"; beyond that the
  connection is closed (4008).
- `max_concurrency` identifies per 5 seconds (1 for an ordinary bot); beyond that the gateway
  answers INVALID_SESSION. 1000 identifies per 24 hours (`session_start_limit.total`).
"""

from __future__ import annotations

from dataclasses import dataclass

HEARTBEAT_INTERVAL_MS = 41_250
HEARTBEAT_GRACE = 1.5  # a heartbeat may arrive up to 1.5 intervals after the one before
GATEWAY_SEND_LIMIT = 120
GATEWAY_SEND_WINDOW_S = 60.0
IDENTIFY_WINDOW_S = 5.0
IDENTIFY_CONCURRENCY = 1
SESSION_STARTS_PER_DAY = 1000


@dataclass(frozen=True)
class Pace:
    """Discord's windows, each multiplied by `scale` (counts unchanged)."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1:
            raise ValueError("the time scale must be in (0, 1]")

    def seconds(self, discord_seconds: float) -> float:
        return discord_seconds * self.scale

    @property
    def heartbeat_interval_ms(self) -> int:
        return max(1, round(HEARTBEAT_INTERVAL_MS * self.scale))

    @property
    def identify_window_s(self) -> float:
        return IDENTIFY_WINDOW_S * self.scale

    @property
    def send_window_s(self) -> float:
        return GATEWAY_SEND_WINDOW_S * self.scale
