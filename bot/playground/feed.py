"""The transcript's view of everything the bot posts: new messages and edits, in any channel,
whoever they answer, each printed once per visible change.

The emulator tells the feed about every message as it is posted and after every edit; the
feed keeps the text each showed at that moment (for `wait for`) and prints what changed since
it last printed. While the playground waits, an edited message that was printed already is
printed again at most once every `EDIT_EVERY_S` (a fine-tune's progress message changes every
2 s); when a step ends, every message is printed in its latest state if that differs from
what was printed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.playground.render import render_message, shown_text
from discord_emulator import DiscordEmulator
from discord_emulator.world import Message

EDIT_EVERY_S = 15.0
LOADING = 1 << 7  # a deferred reply's "thinking..." message flag
ZERO_WIDTH = "\u200b"


def normalise(text: str) -> str:
    """For matching: case, runs of spaces and line breaks, and zero-width spaces ignored."""
    return " ".join(text.replace(ZERO_WIDTH, "").casefold().split())


@dataclass(frozen=True)
class Event:
    """A message as it was posted (`edited` False) or right after one of its edits."""

    message: Message
    text: str  # as the transcript shows it
    edited: bool


class Feed:
    """Records the bot's messages and prints the new and changed ones."""

    def __init__(
        self,
        emulator: DiscordEmulator,
        out_dir: Path | None,
        echo: Callable[[str], object],
        who: Callable[[Message], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.events: list[Event] = []
        self.out_dir, self.echo, self.who, self.clock = out_dir, echo, who, clock
        self._pending: dict[int, Message] = {}  # changed since last printed
        self._printed: dict[int, str] = {}  # message id -> how it looked when printed
        self._printed_at: dict[int, float] = {}
        emulator.message_listeners.append(self._record)

    def _record(self, message: Message, edited: bool) -> None:
        self.events.append(Event(message, shown_text(message), edited))
        self._pending[message.id] = message

    def mark(self) -> int:
        """A position in the events: `find` looks only at those after it."""
        return len(self.events)

    def find(self, text: str, since: int = 0) -> Event | None:
        """The first message or edit after `since` whose shown text contains `text`."""
        wanted = normalise(text)
        return next((e for e in self.events[since:] if wanted in normalise(e.text)), None)

    def show(self, message: Message) -> None:
        """Print `message` now (a reply to the user's action)."""
        self._pending.pop(message.id, None)
        self.echo(render_message(message, self.out_dir, self.who(message)))
        self._printed[message.id] = self._look(message)
        self._printed_at[message.id] = self.clock()

    def flush(self, *, final: bool = True) -> None:
        """Print the messages that changed since they were last printed (see the module)."""
        for message_id, message in list(self._pending.items()):
            if message.payload.get("deleted") or self._look(message) == self._printed.get(
                message_id
            ):
                del self._pending[message_id]
                continue
            if int(message.payload.get("flags") or 0) & LOADING:
                continue  # "thinking...": printed once the answer replaces it
            printed_at = self._printed_at.get(message_id)
            if not final and printed_at is not None and self.clock() - printed_at < EDIT_EVERY_S:
                continue
            self.show(message)

    def _look(self, message: Message) -> str:
        return render_message(message, None, self.who(message))
