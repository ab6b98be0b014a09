"""/about's Discord latency, as an instructor reads it (discord.py's figure in seconds)."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest

from bot.exts.meta._cog import heartbeat_age
from bot.exts.meta._render import about_embed, describe_latency


@pytest.mark.parametrize(
    ("latency_s", "shown"),
    [
        (0.012, "under 0.1 s"),
        (0.094, "about 0.1 s"),
        (0.26, "about 0.3 s"),
        (2.4, "about 2.4 s (slow)"),
    ],
)
def test_a_plausible_latency_is_shown_in_seconds(latency_s, shown):
    assert describe_latency(latency_s) == shown


def test_a_huge_figure_says_the_heartbeat_was_delayed_not_the_network():
    # What /about showed during a fine-tune: 41,253 ms.
    shown = describe_latency(41.253, since_ack_s=3.0, interval_s=41.25)
    assert shown.startswith("the bot's heartbeat was delayed (41 s)")
    assert "machine is busy" in shown and "ms" not in shown


@pytest.mark.parametrize(
    ("latency_s", "words"),
    [(math.inf, "not measured yet"), (math.nan, "not connected"), (-1.0, "not measured yet")],
)
def test_no_figure_says_why(latency_s, words):
    assert words in describe_latency(latency_s)


def test_a_stale_figure_says_no_heartbeat_was_answered():
    shown = describe_latency(0.05, since_ack_s=130.0, interval_s=41.25)
    assert shown.startswith("no heartbeat answered for 2 min 10 s") and "stalling" in shown
    assert describe_latency(0.05, since_ack_s=60.0, interval_s=41.25) == "about 0.1 s"


def test_heartbeat_age_reads_discord_py_or_gives_up():
    beat = SimpleNamespace(_last_ack=time.perf_counter() - 10, interval=41.25)
    since, interval = heartbeat_age(SimpleNamespace(ws=SimpleNamespace(_keep_alive=beat)))
    assert since is not None and 9 < since < 60 and interval == 41.25
    assert heartbeat_age(SimpleNamespace(ws=None)) == (None, None)
    # The bot is an AutoShardedBot: its shards' connections, the one answered longest ago.
    stale = SimpleNamespace(_last_ack=time.perf_counter() - 300, interval=41.25)
    shards = {
        n: SimpleNamespace(_parent=SimpleNamespace(ws=SimpleNamespace(_keep_alive=b)))
        for n, b in enumerate((beat, stale))
    }
    since, _ = heartbeat_age(SimpleNamespace(shards=shards, ws=None))
    assert since is not None and since > 299
    assert heartbeat_age(SimpleNamespace()) == (None, None)


def test_about_shows_the_words():
    embed = about_embed(
        version="1", info=None, location="in-process", uptime_s=5, latency="about 0.1 s"
    )
    assert {f.name: f.value for f in embed.fields}["Discord latency"] == "about 0.1 s"
