"""A fine-tune measures overfitting (held-out sentences per epoch), forgetting (a general
passage before and after) and LoRA's share of the weights, trained alone or in a cohort."""

from __future__ import annotations

import asyncio

import pytest

from model_runner.finetune.cohort import Cohort, Member
from model_runner.finetune.evaluation import held_out_count, split_held_out
from model_runner.finetune.trainer import TrainingProgress, train_steps
from model_runner.protocol import FineTuneParams, FineTuneProgress, InvalidRequest, StartFineTune
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny
from tests.model_runner.test_cohort import RECIPE_PARAMS, RECIPES, deterministic  # noqa: F401

POOL = [f"Mix {n} eggs with flour, then bake the cake for {n + 20} minutes." for n in range(30)]


@pytest.mark.parametrize(
    ("sentences", "requested", "held"),
    [(30, None, 3), (20, None, 2), (10, None, 2), (9, None, 0), (30, 5, 5), (30, 0, 0), (4, 9, 3)],
)
def test_how_many_sentences_are_held_out(sentences, requested, held):
    assert held_out_count(sentences, requested) == held


def test_the_held_out_sentences_depend_only_on_the_seed_and_the_pool():
    kept, held = split_held_out(POOL, FineTuneParams(seed=3))
    assert len(held) == 3 and len(kept) == 27 and not set(held) & set(kept)
    assert split_held_out(POOL, FineTuneParams(seed=3)) == (kept, held)
    others = {tuple(split_held_out(POOL, FineTuneParams(seed=s))[1]) for s in range(5)}
    assert len(others) > 1  # another seed, another choice
    assert [s for s in POOL if s in held] == held  # the pool's order is kept
    with pytest.raises(InvalidRequest, match="held_out"):
        FineTuneParams(held_out=101)


def test_a_solo_run_and_a_cohort_run_measure_the_same(deterministic, tmp_path):  # noqa: F811
    model, tokenizer = deterministic
    solo = TrainingProgress()
    for _ in train_steps(model, tokenizer, RECIPES, RECIPE_PARAMS, solo):
        pass
    cohort = Cohort(model, tokenizer)
    member = Member(
        job_id="g1",
        sentences=RECIPES,
        params=RECIPE_PARAMS,
        progress=TrainingProgress(),
        destination=tmp_path / "g1",
        record=lambda losses: {},
    )
    cohort.join(member)
    for _ in cohort.steps():
        pass
    ours, theirs = member.progress.evaluation, solo.evaluation
    assert len(theirs.held_out) == 2 and ours.held_out == theirs.held_out
    assert len(theirs.held_out_losses) == RECIPE_PARAMS.epochs + 1  # before, each epoch
    assert ours.held_out_losses == pytest.approx(theirs.held_out_losses, abs=1e-5)
    assert len(theirs.general_losses) == 2
    assert ours.general_losses == pytest.approx(theirs.general_losses, abs=1e-5)
    assert (ours.trained_weights, ours.total_weights) == (
        theirs.trained_weights,
        theirs.total_weights,
    )
    # Before any step the adapter adds nothing: the held-out loss is the base model's.
    fresh, _ = build_tiny()
    from model_runner.finetune.evaluation import text_loss

    assert theirs.held_out_losses[0] == pytest.approx(
        text_loss(fresh, tokenizer, theirs.held_out), abs=1e-5
    )


async def test_the_runner_reports_the_measurements_and_keeps_them_with_the_adapter(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    try:
        params = FineTuneParams(epochs=3, batch_size=4, learning_rate=5e-3)
        await runner.call(StartFineTune("g1-v1", POOL, params))
        while (status := await runner.call(FineTuneProgress("g1-v1"))).status != "done":
            assert status.status in ("queued", "running"), status.error
            await asyncio.sleep(0.05)
        assert len(status.held_out) == 3 and status.total_steps == 3 * 7  # 27 sentences
        assert len(status.held_out_losses) == 4 and len(status.general_losses) == 2
        assert status.steps_per_epoch == 7
        assert 0 < status.trained_weights < status.total_weights
        record = runner.adapters.saved()
        assert record and record[0].id == "g1-v1"
        import json

        saved = json.loads((tmp_path / "adapters" / "g1-v1" / "training.json").read_text())
        assert saved["held_out"] == status.held_out
        assert saved["held_out_losses"] == status.held_out_losses
        assert saved["sentences"] == POOL  # the pool, held-out sentences included
    finally:
        await runner.close()
