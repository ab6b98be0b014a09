"""Counting the class's votes: ties, the ranking over several prompts, the verdict, the chart."""

from __future__ import annotations

from bot import charts
from bot.exts.privacy._cog import deleted_text
from bot.exts.vote._render import closed_embed, open_embed, verdict_line
from bot.exts.vote._tally import class_results, leaders, winners
from bot.storage.votes import ClassVote

ORDER = ["sampling", "greedy", "contrastive", "beam"]  # shown as A, B, C, D


def vote(number: int, tally: dict[str, int], status: str = "closed") -> ClassVote:
    outputs = {m: f" text of {m}" for m in ORDER}
    return ClassVote(
        id=number,
        guild_id=1,
        number=number,
        prompt="Once upon a time",
        outputs=outputs,
        letters=ORDER,
        model="tiny",
        max_tokens=6,
        seed=1,
        source="",
        status=status,
        channel_id=2,
        message_id=3,
        opened_by=4,
        tally={m: tally.get(m, 0) for m in ORDER},
    )


def test_a_tie_for_first_has_several_winners_and_no_votes_none():
    assert winners({"greedy": 3, "beam": 3, "sampling": 1}) == ["greedy", "beam"]
    assert winners({"greedy": 0, "beam": 0}) == []
    assert winners({"contrastive": 2, "greedy": 1}) == ["contrastive"]


def test_methods_rank_by_prompts_won_then_shared_then_votes():
    votes = [
        vote(1, {"greedy": 5, "contrastive": 4}),  # greedy wins, with many votes
        vote(2, {"contrastive": 2, "beam": 1}),
        vote(3, {"contrastive": 2, "sampling": 1}),
        vote(4, {"beam": 1, "sampling": 1}),  # a shared first
    ]
    results = class_results(votes)
    assert [r.method for r in results] == ["contrastive", "greedy", "beam", "sampling"]
    contrastive, greedy, beam, sampling = results
    assert (contrastive.won, contrastive.shared, contrastive.votes) == (2, 0, 8)
    assert (greedy.won, greedy.votes) == (1, 5)
    assert (beam.won, beam.shared, beam.votes) == (0, 1, 2)
    assert (sampling.won, sampling.shared, sampling.votes) == (0, 1, 2)
    assert [r.method for r in leaders(results)] == ["contrastive"]
    assert verdict_line(results, 4) == (
        "Over 4 prompts, the class found **Contrastive Search** the most coherent most "
        "consistently: first on 2 of 4 prompts, with 8 of 17 votes."
    )


def test_two_methods_ranked_alike_share_the_verdict():
    results = class_results([vote(1, {"greedy": 2}), vote(2, {"beam": 2})])
    assert [r.method for r in leaders(results)] == ["greedy", "beam"]
    assert "**Greedy** and **5-Beam**" in verdict_line(results, 2)
    assert "first on 1 of 2 prompts each, with 2 of 4 votes each" in verdict_line(results, 2)
    assert verdict_line(class_results([vote(1, {})]), 1).startswith("Nobody has voted")


def test_an_open_vote_names_no_method_and_counts_no_letter():
    embed = open_embed(vote(1, {}, status="open"), 2).to_dict()
    text = str(embed)
    for name in ("Greedy", "5-Beam", "Contrastive", "Random Sampling"):
        assert name not in text
    assert [f["name"] for f in embed["fields"]] == ["A", "B", "C", "D"]
    assert "2 students have voted" in embed["footer"]["text"]


def test_the_closed_vote_puts_each_method_under_its_letter():
    embed = closed_embed(vote(7, {"greedy": 3, "contrastive": 1})).to_dict()
    names = [f["name"] for f in embed["fields"]]
    assert names == [
        "A: Random Sampling · 0 votes (0%)",
        "B: Greedy · 3 votes (75%) 🏆",
        "C: Contrastive Search · 1 vote (25%)",
        "D: 5-Beam · 0 votes (0%)",
    ]
    assert "The class chose **B: Greedy**." in embed["description"]


def test_the_tally_chart_puts_the_most_voted_on_top_with_its_prompts_won():
    fig = charts.vote_tally_figure(
        ["Greedy", "5-Beam", "Contrastive Search", "Random Sampling"],
        [2, 0, 5, 1],
        [0, 0, 2, 0],
        "t",
    )
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    positions = list(ax.get_yticks())
    top_down = [label for _, label in sorted(zip(positions, ticks, strict=True), reverse=True)]
    assert top_down == ["Contrastive Search", "Greedy", "Random Sampling", "5-Beam"]
    widths = sorted((p.get_width() for p in ax.patches), reverse=True)
    assert widths == [5, 2, 1, 0]
    labels = {t.get_text() for t in ax.texts}
    assert "5 (62%) · won 2 prompts" in labels and "0 (0%) · won 0 prompts" in labels
    assert ax.get_xlabel() == "votes for the most coherent continuation"


def test_deleted_votes_are_said_in_the_right_number():
    assert deleted_text({"votes_deleted": 1}) == "Your 1 class vote was deleted."
    assert deleted_text({"votes_deleted": 3, "votes_opened_anonymised": 2}) == (
        "Your 3 class votes were deleted. Your name is gone from 2 class votes you opened."
    )
