"""Counting the class's votes: each prompt's winner, and each method over every prompt.

Task 3 asks which decoding method "consistently" produced the most coherent text, so the
class's answer ranks the methods by the prompts they won (a prompt whose top votes tie is
shared, not won), then by their votes in all.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.votes import ClassVote
from model_runner.protocol import COMPARE_METHODS


def winners(tally: dict[str, int]) -> list[str]:
    """The methods with the most votes (several when they tie; none when nobody voted)."""
    top = max(tally.values(), default=0)
    return [m for m in COMPARE_METHODS if top and tally.get(m, 0) == top]


@dataclass(frozen=True)
class MethodResult:
    """One decoding method over every closed vote."""

    method: str
    votes: int  # ballots for it, all prompts together
    won: int  # prompts where it alone had the most votes
    shared: int  # prompts where it tied for the most votes

    def share(self, total: int) -> float:
        """Its share of all the ballots."""
        return self.votes / total if total else 0.0


def class_results(votes: list[ClassVote]) -> list[MethodResult]:
    """Each method's votes and prompts won, best first (prompts won, shared, then votes)."""
    results = []
    for method in COMPARE_METHODS:
        firsts = [winners(v.tally) for v in votes]
        results.append(
            MethodResult(
                method=method,
                votes=sum(v.tally.get(method, 0) for v in votes),
                won=sum(1 for w in firsts if w == [method]),
                shared=sum(1 for w in firsts if len(w) > 1 and method in w),
            )
        )
    return sorted(results, key=lambda r: (-r.won, -r.shared, -r.votes))


def leaders(results: list[MethodResult]) -> list[MethodResult]:
    """The best-ranked methods (several when they rank the same; none without votes)."""
    if not results or not any(r.votes for r in results):
        return []
    best = results[0]
    return [r for r in results if (r.won, r.shared, r.votes) == (best.won, best.shared, best.votes)]
