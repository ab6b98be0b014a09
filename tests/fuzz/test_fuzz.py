"""The fuzz sample in the default run: a few payloads per command, fixed seed.

`LABBOT_FUZZ_PAYLOADS=1000 python -m pytest -q tests/fuzz` runs more (a fresh lab per
command group above 20); `python -m tests.fuzz` is the long run with progress and figures.
"""

from __future__ import annotations

import os

from tests.fuzz.campaign import run_fuzz
from tests.fuzz.driver import _altered
from tests.fuzz.generate import (
    INTEGER,
    STRING,
    CommandSpec,
    Generator,
    OptionSpec,
)

PAYLOADS = int(os.environ.get("LABBOT_FUZZ_PAYLOADS", "3"))
SEED = int(os.environ.get("LABBOT_FUZZ_SEED", "18"))

SPEC = CommandSpec(
    "demo",
    (
        OptionSpec("prompt", STRING, True),
        OptionSpec("method", STRING, False, choices=("greedy", "beam")),
        OptionSpec("max_tokens", INTEGER, False, min_value=1, max_value=100),
    ),
    instructor=False,
)


def test_payloads_are_reproducible_and_cover_the_three_kinds():
    one = [p.describe() for p in Generator(7).payloads(SPEC, 30)]
    assert one == [p.describe() for p in Generator(7).payloads(SPEC, 30)]
    kinds = {p.split("[")[1].split(",")[0].split(":")[0] for p in one}
    assert kinds == {"valid", "edge", "forged"}


def test_valid_and_edge_values_stay_inside_the_clients_limits():
    for payload in Generator(3).payloads(SPEC, 200):
        if payload.forge is None:
            assert payload.options.get("method", "greedy") in ("greedy", "beam")
            assert 1 <= payload.options.get("max_tokens", 1) <= 100
            assert len(payload.options["prompt"]) <= 6000


def test_a_forgery_changes_exactly_one_thing():
    raw = [{"name": "prompt", "type": STRING, "value": "hi"}]
    assert _altered(raw, ("drop", "prompt")) == []
    assert _altered(raw, ("set", "prompt", STRING, 12)) == [
        {"name": "prompt", "type": STRING, "value": 12}
    ]
    assert len(_altered(raw, ("add", "bogus", STRING, "x"))) == 2


async def test_every_command_survives_fuzzed_options(tmp_path):
    report = await run_fuzz(tmp_path, count=PAYLOADS, seed=SEED, lab_per_group=PAYLOADS > 20)
    summary = report.summary()
    print(summary)
    assert set(report.payloads) == report.registered, "a registered command was not fuzzed"
    assert not report.findings, summary
    assert report.engine_alive, summary
