"""A train step learns the sentence on a throwaway adapter; the shared model never changes."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from model_runner.protocol import (
    DecodingParams,
    Generate,
    InvalidRequest,
    Loss,
    NextToken,
    Tokenize,
    TrainStep,
)
from model_runner.tiny import build_tiny

TEXT = "Mix the flour with the eggs, then bake the cake."


def weight_hashes(model: torch.nn.Module) -> dict[str, str]:
    """A SHA-256 of every parameter and buffer, byte for byte."""
    return {
        name: hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
        for name, tensor in model.state_dict().items()
    }


async def test_loss_falls_and_the_shared_weights_stay_bit_identical(runner):
    loaded = await runner.wait_ready()
    greedy = DecodingParams(max_new_tokens=10)
    before_tokens = (await runner.call(Generate("Once upon a time", greedy))).token_ids
    before = weight_hashes(loaded.model)
    result = await runner.call(TrainStep(TEXT, steps=3, learning_rate=2e-2))
    assert len(result.losses) == 4 and result.steps == 3 and result.learning_rate == 2e-2
    assert all(b < a for a, b in zip(result.losses, result.losses[1:], strict=False))
    assert result.losses[-1] < result.losses[0] - 0.2
    assert weight_hashes(loaded.model) == before
    assert not any(p.requires_grad and p.grad is not None for p in loaded.model.parameters())
    after_tokens = (await runner.call(Generate("Once upon a time", greedy))).token_ids
    assert after_tokens == before_tokens


async def test_probabilities_per_step_give_the_losses(runner):
    result = await runner.call(TrainStep(TEXT, steps=2))  # the default learning rate
    assert result.losses[2] < result.losses[1] < result.losses[0]
    tokens = await runner.call(Tokenize(TEXT))
    assert [t.id for t in result.tokens] == [t.id for t in tokens.tokens]
    assert all(len(t.probabilities) == 3 for t in result.tokens)
    for step, loss in enumerate(result.losses):
        mean = sum(-math.log(t.probabilities[step]) for t in result.tokens) / len(result.tokens)
        assert loss == pytest.approx(mean, rel=1e-5)
    # Before training, the numbers are the base model's own (as /loss reports them).
    base = await runner.call(Loss(TEXT))
    assert result.losses[0] == pytest.approx(base.mean_loss, rel=1e-5)
    assert result.rank == 8 and result.compute_ms > 0


async def test_same_sentence_same_curve(runner):
    first = await runner.call(TrainStep(TEXT, steps=2, learning_rate=1e-2))
    second = await runner.call(TrainStep(TEXT, steps=2, learning_rate=1e-2))
    assert first.losses == second.losses


async def test_trains_from_the_base_model_when_adapters_are_loaded(runner, tmp_path):
    from peft import LoraConfig, get_peft_model

    model, tokenizer = build_tiny()
    torch.manual_seed(4)
    config = LoraConfig(
        r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(tmp_path / "adapters" / "group-b")
    await runner.call(Generate("Mix", DecodingParams(max_new_tokens=2), adapter="group-b"))
    result = await runner.call(TrainStep(TEXT, steps=1))
    fresh, _ = build_tiny()
    ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(TEXT)["input_ids"]]])
    with torch.no_grad():
        expected = fresh(ids, labels=ids).loss.item()  # mean cross-entropy of the base model
    assert result.losses[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"steps": 0}, "steps", "steps must be between 1 and 10 (got 0)"),
        ({"steps": 11}, "steps", "steps must be between 1 and 10"),
        ({"learning_rate": 0.5}, "learning_rate", "between 1e-05 and 0.1 (got 0.5)"),
        ({"text": "eggs " * 70}, "text", "text must be at most 64 tokens"),
        ({"text": " "}, "text", "must not be empty"),
    ],
)
async def test_bad_values_name_the_field_and_range(runner, kwargs, field, words):
    with pytest.raises(InvalidRequest) as caught:
        await runner.call(TrainStep(**{"text": TEXT, **kwargs}))
    assert caught.value.field == field and words in str(caught.value)


async def test_loss_and_next_token_use_the_base_model_once_adapters_are_loaded(runner, tmp_path):
    from peft import LoraConfig, get_peft_model

    before_loss = await runner.call(Loss(TEXT))
    before_next = await runner.call(NextToken("Mix the"))
    model, _ = build_tiny()
    torch.manual_seed(4)
    config = LoraConfig(
        r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(tmp_path / "adapters" / "group-c")
    await runner.call(Generate("Mix", DecodingParams(max_new_tokens=2), adapter="group-c"))
    assert (await runner.call(Loss(TEXT))).mean_loss == before_loss.mean_loss
    after_next = await runner.call(NextToken("Mix the"))
    assert [c.probability for c in after_next.candidates] == [
        c.probability for c in before_next.candidates
    ]
