"""The class's closed votes as preference pairs: what aligning the model learns from.

A closed vote with one winner says that the class preferred the winner's continuation to each
of the others, so it gives one pair per other continuation: chosen = the winner, rejected =
that one (three pairs per vote, more of the class's judgement than winner-against-last alone).
A vote whose top votes tie, or that nobody voted in, says nothing about which is better and
gives none; nor does a continuation whose text is the winner's (Greedy and 5-Beam often write
the same words) or an empty one, or one already paired with the winner in the same vote.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.exts.vote._tally import winners
from bot.storage.votes import ClassVote
from model_runner.protocol import PreferencePair
from model_runner.protocol.limits import MAX_TEXT_CHARS, PAIRS_RANGE


@dataclass(frozen=True)
class PreferenceData:
    """The pairs, and which votes gave them."""

    pairs: list[PreferencePair]
    votes: list[int]  # numbers of the votes that gave pairs
    skipped: list[int]  # numbers of closed votes without a single winner


def preference_pairs(votes: list[ClassVote]) -> PreferenceData:
    """Every closed vote's pairs, oldest vote first (at most the runner's limit)."""
    pairs: list[PreferencePair] = []
    used: list[int] = []
    skipped: list[int] = []
    for vote in votes:
        top = winners(vote.tally)
        if len(top) != 1:
            skipped.append(vote.number)
            continue
        chosen = vote.outputs[top[0]][:MAX_TEXT_CHARS]  # the trainer keeps fewer tokens anyway
        seen = {chosen}
        found = []
        for method in vote.letters:
            rejected = vote.outputs[method][:MAX_TEXT_CHARS]
            if rejected in seen or not rejected.strip() or not chosen.strip():
                continue
            seen.add(rejected)
            found.append(PreferencePair(vote.prompt[:MAX_TEXT_CHARS], chosen, rejected))
        if found:
            pairs += found
            used.append(vote.number)
    return PreferenceData(pairs[: PAIRS_RANGE[1]], used, skipped)
