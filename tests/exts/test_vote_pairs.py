"""The class's votes as DPO preference pairs, and what the alignment's messages say."""

from __future__ import annotations

from bot.exts.vote._aligning import final_line, progress_line, result_text
from bot.exts.vote._pairs import preference_pairs
from bot.fine_tuned import is_class_aligned
from bot.storage.alignments import AlignmentRun
from model_runner.protocol import FineTuneStatus, PreferenceAgreement, PreferencePair
from tests.exts.test_vote_results import vote


def test_a_winner_is_chosen_over_each_other_continuation():
    data = preference_pairs([vote(1, {"contrastive": 3, "greedy": 1})])
    assert data.votes == [1] and data.skipped == []
    assert data.pairs == [
        PreferencePair("Once upon a time", " text of contrastive", f" text of {m}")
        for m in ("sampling", "greedy", "beam")  # in the letters' order
    ]


def test_ties_and_votes_nobody_voted_in_give_no_pairs():
    data = preference_pairs([vote(1, {"greedy": 2, "beam": 2}), vote(2, {}), vote(3, {"beam": 1})])
    assert data.skipped == [1, 2] and data.votes == [3] and len(data.pairs) == 3


def test_a_continuation_that_repeats_the_winner_or_is_empty_is_no_pair():
    same = vote(1, {"greedy": 2})
    same.outputs.update(beam=same.outputs["greedy"], sampling="  ", contrastive=" other")
    data = preference_pairs([same])
    assert [(p.chosen, p.rejected) for p in data.pairs] == [(" text of greedy", " other")]


RUN = AlignmentRun(
    id=1,
    guild_id=5,
    version=2,
    adapter="g5-class-aligned-v2",
    status="done",
    started_by=7,
    votes=[1, 3],
    pairs=[{"prompt": "a", "chosen": "b", "rejected": "c"}] * 6,
    params={},
    channel_id=9,
    message_id=None,
)


def test_the_result_says_how_often_each_model_prefers_the_class_choice():
    status = FineTuneStatus(
        job_id=RUN.adapter,
        adapter=RUN.adapter,
        status="done",
        step=6,
        total_steps=6,
        losses=[0.693, 0.5, 0.41],
        preference=PreferenceAgreement(6, 2, 5, 6, 0.31),
    )
    text = result_text(RUN, status)
    assert text.startswith(
        "✅ **Class-aligned v2** finished: 6 steps, DPO loss 0.69 → 0.41, on 6 preference "
        "pairs from the class's votes 1, 3."
    )
    assert "higher probability in 2 of 6 pairs; the class-aligned model does in 5 of 6." in text
    assert "positive in 6 of 6 pairs, mean 0.31; before training it is 0 in every pair" in text
    assert final_line("Class-aligned v2", status).startswith("✅ **Class-aligned v2** aligning")
    assert "100% · step 6/6" in final_line("Class-aligned v2", status)


def test_progress_says_where_the_run_stands():
    running = FineTuneStatus("x", "x", "running", step=2, total_steps=8, losses=[0.6], eta_s=4.2)
    assert progress_line("Class-aligned v1", running) == (
        "⏳ **Class-aligned v1** aligning `█████░░░░░░░░░░░░░░░` 25% · step 2/8 · DPO loss 0.60 "
        "· about 4 s left"
    )
    queued = progress_line("Class-aligned v1", FineTuneStatus("x", "x", "queued"))
    assert "starts in a moment" in queued


def test_aligned_adapters_are_told_from_group_fine_tunes():
    assert is_class_aligned(RUN.adapter)
    assert not is_class_aligned("g5-group3-v2")
