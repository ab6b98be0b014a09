"""What the bot does in the background shows in the transcript, and `wait for` waits for it."""

from __future__ import annotations

from tests.playground.conftest import session


async def test_fine_tune_progress_shows_and_wait_for_sees_the_printed_text(tmp_path):
    async with session(tmp_path / "data") as lab:
        lab.playground.wait_limit_s = 120
        await lab.run(
            'as Ada roles:"Group 1"',
            "/finetune example name:full-stop epochs:20",  # long enough to be seen training
            # As printed: the message says "✅ **Group 1 v1** fine-tune finished".
            'wait for "Group 1 v1 fine-tune finished"',
            "wait 1",
        )
        assert lab.playground.failures == []
        # The progress message is a channel message the bot edits, not a reply.
        progress = [p for p in lab.printed if "⏳ Group 1 v1" in p or "Group 1 v1 fine-tuning" in p]
        assert progress and "⏳ Group 1 v1" in progress[0]  # waiting or training
        assert "✅ Group 1 v1 fine-tuning `████████████████████` 100%" in progress[-1]
        assert progress[-1].startswith("[bot] (edited)")
        assert len(progress) <= 4  # not every edit
        # Only what comes after the last action counts: the earlier message does not.
        lab.playground.wait_limit_s = 1
        await lab.run("/tokens text:again", 'wait for "fine-tune finished"')
        assert lab.playground.failures == [
            "no new message or edit showing 'fine-tune finished' within 1 s"
        ]
