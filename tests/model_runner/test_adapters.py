"""Rows of different LoRA adapters (and of the base model) share one batch, each exact."""

from __future__ import annotations

import asyncio

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from model_runner.decoding.run import generate
from model_runner.protocol import AdapterNotFound, DecodingParams, Generate, InvalidRequest
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny

PROMPT = "Mix the flour with"


def save_adapter(path, seed: int) -> None:
    """A LoRA adapter with random (non-zero) weights, in peft's standard format."""
    model, _ = build_tiny()
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4, lora_alpha=32, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(path)


def solo(adapter_path, params: DecodingParams) -> list[int]:
    model, tokenizer = build_tiny()
    if adapter_path is not None:
        model = PeftModel.from_pretrained(model, str(adapter_path)).eval()
    eos = tokenizer.eos_token_id
    return generate(model, tokenizer(PROMPT)["input_ids"], params, eos, eos)


@pytest.fixture
async def runner(tmp_path):
    for name, seed in (("group-a-v1", 1), ("group-b-v1", 2)):
        save_adapter(tmp_path / "adapters" / name, seed)
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    yield runner
    await runner.close()


async def test_mixed_adapters_share_a_batch_and_match_solo_runs(runner, tmp_path):
    greedy = DecodingParams(method="greedy", max_new_tokens=12)
    beam = DecodingParams(method="beam", max_new_tokens=10, num_beams=3)
    contrastive = DecodingParams(method="contrastive", max_new_tokens=9, top_k=3)
    cases = [
        (None, greedy),
        ("group-a-v1", greedy),
        ("group-b-v1", greedy),
        ("group-a-v1", beam),
        (None, beam),
        ("group-b-v1", contrastive),  # its rows move back to their own places each step
    ]
    results = await asyncio.gather(*(runner.call(Generate(PROMPT, p, a)) for a, p in cases))
    for (adapter, params), result in zip(cases, results, strict=True):
        path = tmp_path / "adapters" / adapter if adapter else None
        assert result.token_ids == solo(path, params), (adapter, params.method)
        assert result.adapter == adapter
    assert results[0].token_ids != results[1].token_ids != results[2].token_ids


async def test_unknown_adapter_names_the_field(runner):
    with pytest.raises(AdapterNotFound, match="no adapter 'nope'") as caught:
        await runner.call(Generate(PROMPT, DecodingParams(), adapter="nope"))
    assert caught.value.field == "adapter"
    with pytest.raises(InvalidRequest, match="letters, digits"):
        await runner.call(Generate(PROMPT, DecodingParams(), adapter="../../etc"))
