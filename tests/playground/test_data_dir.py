"""`--data-dir` keeps the class: a second playground run is the same server to the bot."""

from __future__ import annotations

import json

from bot.playground.session import SERVER_FILE
from tests.playground.conftest import session


async def test_a_second_run_on_the_data_dir_sees_the_first_runs_class(tmp_path):
    data = tmp_path / "data"
    async with session(data) as first:
        first.playground.wait_limit_s = 120
        await first.run(
            "as Ms Rivera roles:Instructor",
            "/lab blockwords add:banana",
            'as Ada roles:"Group 1"',
            '/finetune add text:"Whisk the eggs."',
            "/finetune example name:full-stop epochs:1",
            'wait for "Group 1 v1 fine-tune finished"',
        )
        assert first.playground.failures == []
        server = first.playground.harness.emulator
        ids = (server.application_id, server.guild.id, server.guild.role_named("Group 1").id)
    saved = json.loads((data / SERVER_FILE).read_text())
    assert saved["guild"]["id"] == str(ids[1])

    async with session(data) as second:
        server = second.playground.harness.emulator
        assert (
            server.application_id,
            server.guild.id,
            server.guild.role_named("Group 1").id,
        ) == ids
        await second.run(
            'as Ada roles:"Group 1"',
            '/finetune add text:"I like banana bread."',
            "expect error",  # the word list is still there
            "/finetune pool",
            'expect "Whisk the eggs."',  # so is the group's pool
            "/finetune example name:full-stop epochs:1",
            'expect "Group 1 v2"',  # and the versions go on
        )
        assert second.playground.failures == []
        assert "blocked for fine-tuning" in second.transcript
