"""The transcript's feed: every bot message and edit, matched as printed, printed once per
visible change."""

from __future__ import annotations

from bot.formatting import safe
from bot.playground.feed import EDIT_EVERY_S, Feed
from discord_emulator import DiscordEmulator
from discord_emulator.rest import Api


class Lab:
    """An emulator (not started) with a feed on it and a fake clock."""

    def __init__(self) -> None:
        self.emulator = DiscordEmulator()
        self.api = Api(self.emulator)
        self.channel = self.emulator.guild.channel_named("lab").id
        self.printed: list[str] = []
        self.now = 0.0
        self.feed = Feed(self.emulator, None, self.printed.append, lambda m: "bot", self.clock)

    def clock(self) -> float:
        return self.now

    def post(self, content: str):
        return self.api._new_message(self.channel, {"content": content}, [])

    def edit(self, message, content: str) -> None:
        self.api._apply_edit(message, {"content": content}, [])


def test_wait_for_matches_the_text_as_printed_not_the_markdown():
    lab = Lab()
    message = lab.post("✅ **Group 1 v1** fine-tune finished: 4 steps")
    assert "group 1 v1 fine-tune finished" not in message.text().lower()  # the raw markdown
    assert lab.feed.find("Group 1 v1 fine-tune finished") is not None
    lab.post(safe("@everyone said *hi* to Group_1"))  # escapes and a zero-width space
    assert lab.feed.find("@everyone said *hi* to group_1") is not None


def test_only_messages_and_edits_after_the_mark_count():
    lab = Lab()
    progress = lab.post("⏳ fine-tuning 50%")
    lab.post("Group 1 v1 fine-tune finished")
    since = lab.feed.mark()
    assert lab.feed.find("fine-tune finished", since) is None  # an earlier message
    lab.edit(progress, "✅ fine-tuning 100%")  # an edit of an earlier message is new
    found = lab.feed.find("fine-tuning 100%", since)
    assert found is not None and found.edited and found.message is progress
    assert lab.feed.find("50%", since) is None


def test_other_messages_are_printed_and_edits_not_in_a_flood():
    lab = Lab()
    progress = lab.post("⏳ fine-tuning 0%")
    lab.feed.flush(final=False)
    assert lab.printed == ["[bot]\n  ⏳ fine-tuning 0%"]
    for step in range(1, 6):  # an edit every 2 s while the playground waits
        lab.now += 2
        lab.edit(progress, f"⏳ fine-tuning {step * 10}%")
        lab.feed.flush(final=False)
    assert len(lab.printed) == 1  # too soon after the first
    lab.now = EDIT_EVERY_S
    lab.feed.flush(final=False)
    assert lab.printed[-1] == "[bot] (edited)\n  ⏳ fine-tuning 50%"
    lab.now += 1
    lab.edit(progress, "✅ fine-tuning 100%")
    lab.edit(progress, "✅ fine-tuning 100%")  # changes nothing visible
    lab.feed.flush()  # a step ended: the latest state, at once
    lab.feed.flush()
    assert lab.printed[2:] == ["[bot] (edited)\n  ✅ fine-tuning 100%"]


def test_a_reply_printed_by_the_session_is_not_printed_again():
    lab = Lab()
    reply = lab.post("Added 2 sentences")
    lab.feed.show(reply)
    lab.feed.flush()
    assert lab.printed == ["[bot]\n  Added 2 sentences"]
