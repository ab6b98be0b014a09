"""A runner serving in bfloat16 (`LABBOT_PRECISION=bf16`, the fast path on CPUs with native
bfloat16) does every lab task, and its numbers stay close to float32's."""

from __future__ import annotations

import asyncio

import pytest
import torch

from model_runner.loading import pick_dtype
from model_runner.protocol import (
    Attention,
    BeamTrace,
    Compare,
    DecodingParams,
    Embedding,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    Loss,
    NextToken,
    SamplerStages,
    StartFineTune,
    StepCandidates,
    TrainStep,
)
from model_runner.runner import ModelRunner, RunnerConfig

SENTENCES = [f"Mix {n} eggs with flour, then bake for {n + 20} minutes." for n in range(12)]
PROMPT = "Mix the flour"


@pytest.fixture
async def runners(tmp_path):
    made = {}
    for precision in ("bf16", "fp32"):
        config = RunnerConfig(
            model="tiny", device="cpu", data_dir=tmp_path / precision, precision=precision
        )
        made[precision] = ModelRunner(config)
        await made[precision].wait_ready()
    yield made
    for runner in made.values():
        await runner.close()


def test_the_choice_names_the_number_format():
    cpu = torch.device("cpu")
    assert pick_dtype(cpu) == pick_dtype(cpu, "fp32") == torch.float32
    assert pick_dtype(cpu, "bf16") == torch.bfloat16
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        pick_dtype(cpu, "int4")


async def test_every_lab_task_runs_in_bfloat16(runners):
    fast, exact = runners["bf16"], runners["fp32"]
    assert next((await fast.wait_ready()).model.parameters()).dtype == torch.bfloat16
    for method in ("greedy", "beam", "contrastive", "sampling"):
        result = await fast.call(Generate(PROMPT, DecodingParams(method=method, seed=1)))
        assert len(result.token_ids) > 0, method
    compared = await fast.call(Compare(PROMPT, max_new_tokens=8, seed=3))
    assert len(compared.results) == 4
    near, far = await asyncio.gather(
        fast.call(NextToken(PROMPT, top=5)), exact.call(NextToken(PROMPT, top=5))
    )
    assert abs(near.candidates[0].probability - far.candidates[0].probability) < 0.02
    loss_fast, loss_exact = await asyncio.gather(
        fast.call(Loss("Mix the flour with the eggs")),
        exact.call(Loss("Mix the flour with the eggs")),
    )
    assert abs(loss_fast.mean_loss - loss_exact.mean_loss) < 0.05 * loss_exact.mean_loss
    await fast.call(Attention(PROMPT, layer=1, head=1))
    await fast.call(Embedding(["cake", "bread"], top=3))
    await fast.call(SamplerStages(PROMPT, temperature=1.2, top_k=10, top_p=0.9, top=3, seed=2))
    await fast.call(BeamTrace(PROMPT, DecodingParams(method="beam", max_new_tokens=4)))
    step = await fast.call(TrainStep("Preheat the oven.", steps=2, learning_rate=0.01))
    assert len(step.losses) == 3  # before, then after each step
    await fast.call(StartFineTune("g1-v1", SENTENCES, FineTuneParams(epochs=2, batch_size=4)))
    while (status := await fast.call(FineTuneProgress("g1-v1"))).status in ("queued", "running"):
        await asyncio.sleep(0.05)
    assert status.status == "done", status.error
    tuned = await fast.call(Generate(PROMPT, DecodingParams(max_new_tokens=6), "g1-v1"))
    assert len(tuned.token_ids) > 0
    await fast.call(StepCandidates(PROMPT, [], "g1-v1", top=3))
