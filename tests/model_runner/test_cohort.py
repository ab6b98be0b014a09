"""Groups' fine-tunes trained together: each adapter learns exactly what it would learn alone,
runs join and leave between slices, slices keep to their token budget, extra runs wait."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig
from safetensors.torch import load_file

from model_runner.finetune import cohort as cohort_module
from model_runner.finetune import trainer
from model_runner.finetune.cohort import Cohort, Member
from model_runner.finetune.trainer import TrainingProgress, train_steps
from model_runner.protocol import FineTuneParams
from model_runner.tiny import build_tiny

RECIPES = [f"Mix {n} eggs with flour, then bake for {n + 20} minutes." for n in range(12)]
CATS = [f"The {n} cats sat on the mat and purred." for n in range(9)]
RECIPE_PARAMS = FineTuneParams(epochs=2, batch_size=4, seed=1, learning_rate=5e-3)
CAT_PARAMS = FineTuneParams(epochs=3, batch_size=3, seed=2, rank=4)


@pytest.fixture
def deterministic(monkeypatch):
    """No dropout anywhere: then training together must equal training alone, bit for bit
    up to float rounding (dropout draws its masks from one shared generator)."""

    def no_dropout(params: FineTuneParams) -> LoraConfig:
        return LoraConfig(
            r=params.rank, lora_alpha=2 * params.rank, lora_dropout=0.0, task_type="CAUSAL_LM"
        )

    monkeypatch.setattr(trainer, "lora_config", no_dropout)
    monkeypatch.setattr(cohort_module, "lora_config", no_dropout)
    model, tokenizer = build_tiny()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model, tokenizer


def alone(model, tokenizer, sentences, params):
    progress = TrainingProgress()
    *_, trained = train_steps(model, tokenizer, sentences, params, progress)
    weights = {
        key.replace(".default", ""): value.detach().clone()
        for key, value in trained.state_dict().items()
        if "lora_" in key
    }
    return weights, progress.losses


def member(tmp_path, name, sentences, params) -> Member:
    return Member(
        job_id=name,
        sentences=sentences,
        params=params,
        progress=TrainingProgress(),
        destination=tmp_path / name,
        record=lambda losses: {"losses": losses},
    )


def assert_same_adapter(saved_dir, solo_weights):
    saved = load_file(saved_dir / "adapter_model.safetensors")
    assert saved.keys() == solo_weights.keys()
    for key, value in saved.items():
        torch.testing.assert_close(value, solo_weights[key], atol=1e-6, rtol=1e-5)


def test_runs_trained_together_learn_what_each_learns_alone(deterministic, tmp_path):
    model, tokenizer = deterministic
    solo = {
        "recipes": alone(model, tokenizer, RECIPES, RECIPE_PARAMS),
        "cats": alone(model, tokenizer, CATS, CAT_PARAMS),
    }
    cohort = Cohort(model, tokenizer, slice_tokens=10**6)
    runs = {
        "recipes": member(tmp_path, "recipes", RECIPES, RECIPE_PARAMS),
        "cats": member(tmp_path, "cats", CATS, CAT_PARAMS),
    }
    for run in runs.values():
        assert cohort.join(run)
    slices = sum(1 for _ in cohort.steps())
    # One pass per slice carries both runs' batches while both have some left.
    assert slices == max(len(solo["recipes"][1]), len(solo["cats"][1])) == 9
    for name, run in runs.items():
        assert run.future.result(timeout=0) is None
        weights, losses = solo[name]
        assert run.progress.step == run.progress.total_steps == len(losses)
        assert run.progress.losses == pytest.approx(losses, abs=1e-5)
        assert_same_adapter(tmp_path / name, weights)
        files = sorted(path.name for path in (tmp_path / name).iterdir())
        assert files == ["adapter_config.json", "adapter_model.safetensors", "training.json"]
    assert not cohort.join(member(tmp_path, "late", CATS, CAT_PARAMS))  # it has ended


def test_a_run_that_joins_midway_still_learns_what_it_would_alone(deterministic, tmp_path):
    model, tokenizer = deterministic
    solo_weights, solo_losses = alone(model, tokenizer, CATS, CAT_PARAMS)
    cohort = Cohort(model, tokenizer, slice_tokens=10**6)
    first = member(tmp_path, "recipes", RECIPES, RECIPE_PARAMS)
    cohort.join(first)
    steps = cohort.steps()
    next(steps), next(steps)
    assert first.progress.step == 2
    late = member(tmp_path, "cats", CATS, CAT_PARAMS)
    assert cohort.join(late)
    for _ in steps:
        pass
    assert late.progress.losses == pytest.approx(solo_losses, abs=1e-5)
    assert_same_adapter(tmp_path / "cats", solo_weights)
    assert first.future.result(timeout=0) is None


def test_slices_keep_to_their_token_budget(tmp_path):
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer, slice_tokens=1)  # room for one run's batch per slice
    runs = [member(tmp_path, f"g{n}", CATS, CAT_PARAMS) for n in range(3)]
    for run in runs:
        cohort.join(run)
    seen = []
    for _ in cohort.steps():
        seen.append(tuple(run.progress.step for run in runs))
    assert len(seen) == 3 * 9  # every batch had a slice of its own
    # ...taken in the order the runs started: the first group gets its model first.
    assert seen[8] == (9, 0, 0) and seen[17] == (9, 9, 0) and seen[-1] == (9, 9, 9)
    assert all(run.future.done() and run.future.exception() is None for run in runs)


def test_every_run_is_told_about_when_it_finishes(tmp_path):
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer, slice_tokens=1)
    runs = [member(tmp_path, f"g{n}", CATS, CAT_PARAMS) for n in range(3)]
    for run in runs:
        cohort.join(run)
    steps = cohort.steps()
    for _ in range(3):
        next(steps)
    etas = [cohort.eta_s(run) for run in runs]
    assert all(eta is not None and eta > 0 for eta in etas)
    assert etas[0] < etas[1] < etas[2]  # each waits for the work of those before it
    assert cohort.last_packed == 1


def test_runs_beyond_the_places_wait_in_order_with_an_estimate(tmp_path):
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer, max_members=1)
    first = member(tmp_path, "first", RECIPES, RECIPE_PARAMS)
    second = member(tmp_path, "second", CATS, CAT_PARAMS)
    cohort.join(first)
    cohort.join(second)
    steps = cohort.steps()
    next(steps), next(steps)
    assert cohort.size() == 1 and second.progress.step == 0
    wait = cohort.starts_in_s(second)
    eta = cohort.eta_s(first)
    assert wait is not None and eta is not None and wait == pytest.approx(eta)
    started = []
    second.on_start = lambda: started.append(first.future.done())
    for _ in steps:
        pass
    assert started == [True]  # it began once the first had finished
    assert cohort.starts_in_s(second) == 0.0
    assert second.future.result(timeout=0) is None


def test_a_cancelled_run_leaves_and_saves_nothing_while_the_others_finish(tmp_path):
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer)
    kept = member(tmp_path, "kept", RECIPES, RECIPE_PARAMS)
    dropped = member(tmp_path, "dropped", CATS, CAT_PARAMS)
    cohort.join(kept)
    cohort.join(dropped)
    steps = cohort.steps()
    next(steps)
    assert dropped.future.cancel()
    for _ in steps:
        pass
    assert dropped.progress.step == 1 and not (tmp_path / "dropped").exists()
    assert kept.progress.step == kept.progress.total_steps
    assert (tmp_path / "kept" / "adapter_model.safetensors").exists()


def test_an_abandoned_cohort_fails_its_runs(tmp_path):
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer)
    run = member(tmp_path, "g1", CATS, CAT_PARAMS)
    cohort.join(run)
    cohort.abandon(RuntimeError("the engine thread died"))
    assert "engine thread died" in str(run.future.exception(timeout=0))
    assert not cohort.join(member(tmp_path, "g2", CATS, CAT_PARAMS))


def test_bfloat16_passes_train_close_to_float32(tmp_path):
    """Where the hardware has bfloat16 the runner trains under autocast: the same run in
    float32 and in bfloat16 learns nearly the same (LoRA weights and optimiser are float32)."""
    model, tokenizer = build_tiny()
    runs = {}
    for precision in (None, torch.bfloat16):
        cohort = Cohort(model, tokenizer, precision=precision)
        run = member(tmp_path / str(precision), "cats", CATS, CAT_PARAMS)
        cohort.join(run)
        for _ in cohort.steps():
            pass
        runs[precision] = run.progress.losses
    assert runs[torch.bfloat16] != runs[None]  # it did run in another format
    assert runs[torch.bfloat16] == pytest.approx(runs[None], abs=0.05)


def test_the_training_format_follows_the_setting_and_the_hardware(monkeypatch):
    from model_runner.finetune import precision

    cpu = torch.device("cpu")
    assert precision.training_dtype("fp32", cpu) is None
    assert precision.training_dtype("bf16", cpu) is torch.bfloat16
    for native in (True, False):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda n=native: n)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert precision.training_dtype("auto", cpu) == (torch.bfloat16 if native else None)
    assert precision.training_dtype("auto", torch.device("mps")) is None
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.training_dtype("fp16", cpu)


def test_a_slow_pace_makes_slices_smaller(tmp_path):
    """On a slow machine a slice holds about `slice_s` seconds of training, never less than
    one run's batch, so the class's decoding waits behind shorter slices."""
    model, tokenizer = build_tiny()
    cohort = Cohort(model, tokenizer, slice_tokens=10**6, slice_s=0.5)
    runs = [member(tmp_path, f"g{n}", CATS, CAT_PARAMS) for n in range(3)]
    for run in runs:
        cohort.join(run)
    steps = cohort.steps()
    next(steps)
    assert cohort.last_packed == 3  # the pace is not known yet: the token budget alone
    cohort.s_per_token = 1.0  # as if a token took a second
    next(steps)
    assert cohort.last_packed == 1
