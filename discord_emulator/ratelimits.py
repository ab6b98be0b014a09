"""REST rate limits as Discord applies them: per-route buckets, a global limit, and headers.

From Discord's rate-limit documentation ("Rate Limits"):

- every answer carries `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds),
  `-Reset-After` (seconds) and `-Bucket` (an id shared by routes of one bucket);
- limits are per route *and* per top-level resource (a channel, a guild, a webhook or
  interaction token), so two channels never share a message bucket;
- "All bots can make up to 50 requests per second to our API"; interaction endpoints
  (callbacks and follow-ups, routes with an interaction token) are not bound to it;
- an interaction callback has no limit and no headers;
- a request over a limit gets 429 with `Retry-After`, `X-RateLimit-Scope` (`user` or
  `global`), `X-RateLimit-Global` for the global limit, and a JSON body with `message`,
  `retry_after` (seconds) and `global`.

Discord does not publish each route's limit ("you should not hard code them"); the emulator
uses the values Discord is commonly seen to send (5 per 5 s for creating, editing and
deleting channel messages, 5 per 2 s per webhook token, 50 per second otherwise). Windows
are multiplied by the emulator's time scale (`pace.Pace`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from discord_emulator.pace import Pace

GLOBAL_LIMIT = 50
GLOBAL_WINDOW_S = 1.0
_MAJOR_PARAMS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_token")

# (method, template) -> (limit, window in Discord seconds); others get the default.
ROUTE_LIMITS: dict[tuple[str, str], tuple[int, float]] = {
    ("POST", "/channels/{channel_id}/messages"): (5, 5.0),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): (5, 5.0),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}"): (5, 5.0),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"): (5, 2.0),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"): (5, 2.0),
    ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"): (5, 2.0),
}
DEFAULT_LIMIT = (50, 1.0)
# Answered without rate-limit headers and never limited (one callback per interaction).
UNLIMITED = {("POST", "/interactions/{interaction_id}/{interaction_token}/callback")}


@dataclass
class Window:
    """Requests counted in one fixed window."""

    limit: int
    length_s: float
    used: int = 0
    resets_at: float = 0.0

    def take(self, now: float) -> float | None:
        """Count one request; the seconds to wait when it is over the limit."""
        if now >= self.resets_at:
            self.used, self.resets_at = 0, now + self.length_s
        if self.used >= self.limit:
            return self.resets_at - now
        self.used += 1
        return None


@dataclass(frozen=True)
class Verdict:
    """The rate-limit headers of one answer, and the wait when the request was refused."""

    headers: dict[str, str]
    retry_after: float | None = None
    is_global: bool = False

    def refusal(self) -> tuple[dict[str, object], dict[str, str]]:
        """Discord's 429 body and headers for this verdict."""
        retry = round(self.retry_after or 0.0, 3)
        headers = {
            **self.headers,
            "Retry-After": str(retry),
            "X-RateLimit-Scope": "global" if self.is_global else "user",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry}
        return {**body, "global": self.is_global}, headers


class RateLimits:
    """Every bucket the bot has touched, and the global window."""

    def __init__(self, pace: Pace) -> None:
        self.pace = pace
        self.buckets: dict[tuple[str, ...], Window] = {}
        self.global_window = Window(GLOBAL_LIMIT, pace.seconds(GLOBAL_WINDOW_S))
        self.refused: list[tuple[str, str, bool]] = []  # (method, template, global)

    def take(self, method: str, template: str, params: dict[str, str]) -> Verdict:
        if (method, template) in UNLIMITED:
            return Verdict({})
        now = time.monotonic()
        limit, window_s = ROUTE_LIMITS.get((method, template), DEFAULT_LIMIT)
        majors = tuple(params.get(name, "") for name in _MAJOR_PARAMS)
        key = (method, template, *majors)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Window(limit, self.pace.seconds(window_s))
        interaction_route = "webhook_token" in params or "interaction_token" in params
        if not interaction_route:
            wait = self.global_window.take(now)
            if wait is not None:
                self.refused.append((method, template, True))
                return Verdict(self._headers(bucket, method, template, now), wait, True)
        wait = bucket.take(now)
        if wait is not None:
            self.refused.append((method, template, False))
        return Verdict(self._headers(bucket, method, template, now), wait)

    @staticmethod
    def _headers(bucket: Window, method: str, template: str, now: float) -> dict[str, str]:
        reset_after = max(0.0, bucket.resets_at - now)
        name = hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": name,
        }
