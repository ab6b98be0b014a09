"""A saved adapter zips into a folder that peft loads in a notebook, giving the same model."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest
import torch
from peft import PeftModel

from model_runner.archive import adapter_zip
from model_runner.decoding.run import generate
from model_runner.protocol import (
    AdapterArchive,
    AdapterNotFound,
    DecodingParams,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    InvalidRequest,
    StartFineTune,
)
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny

SENTENCES = [f"Mix {n} eggs with flour, then bake the cake for {n + 20} minutes." for n in range(4)]
PROMPT = "Mix the flour with"


@pytest.fixture
async def runner(tmp_path):
    runner = ModelRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path / "data"))
    await runner.wait_ready()
    params = FineTuneParams(epochs=2, batch_size=2, learning_rate=1e-2)
    await runner.call(StartFineTune("group-1-v1", SENTENCES, params))
    while (await runner.call(FineTuneProgress("group-1-v1"))).status in ("queued", "running"):
        await asyncio.sleep(0.02)
    assert (await runner.call(FineTuneProgress("group-1-v1"))).status == "done"
    yield runner
    await runner.close()


def logits(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([tokenizer(PROMPT)["input_ids"]])).logits


async def test_the_zip_loads_with_peft_and_matches_the_runner(runner, tmp_path):
    data = await runner.call(AdapterArchive("group-1-v1"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "notebook")
    assert {"group-1-v1/adapter_config.json", "group-1-v1/training.json"} <= set(names)
    assert "group-1-v1/README.txt" in names
    folder = tmp_path / "notebook" / "group-1-v1"
    record = json.loads((folder / "training.json").read_text())
    assert record["sentences"] == SENTENCES and record["base_model"] == "tiny"

    base, tokenizer = build_tiny()
    unzipped = PeftModel.from_pretrained(base, str(folder)).eval()
    original_base, _ = build_tiny()
    saved = runner.adapters.root / "group-1-v1"
    original = PeftModel.from_pretrained(original_base, str(saved)).eval()
    assert torch.equal(logits(unzipped, tokenizer), logits(original, tokenizer))
    with unzipped.disable_adapter():
        assert not torch.equal(logits(unzipped, tokenizer), logits(original, tokenizer))

    greedy = DecodingParams(max_new_tokens=12)
    served = await runner.call(Generate(PROMPT, greedy, adapter="group-1-v1"))
    eos = tokenizer.eos_token_id
    assert served.token_ids == generate(unzipped, tokenizer(PROMPT)["input_ids"], greedy, eos, eos)


async def test_readme_names_the_base_model_and_how_to_load_it(runner):
    data = await runner.call(AdapterArchive("group-1-v1"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        readme = archive.read("group-1-v1/README.txt").decode()
    assert "Base model: tiny" in readme and "build_tiny" in readme
    assert 'PeftModel.from_pretrained(base, "group-1-v1")' in readme


def test_readme_for_a_hub_model_and_the_offline_preset(tmp_path):
    folder = tmp_path / "group-2-v1"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "openai-community/gpt2"})
    )
    with zipfile.ZipFile(io.BytesIO(adapter_zip(folder, "ignored"))) as archive:
        readme = archive.read("group-2-v1/README.txt").decode()
    assert 'from_pretrained("openai-community/gpt2")' in readme
    (folder / "training.json").write_text(json.dumps({"base_model": "gemma-offline"}))
    with zipfile.ZipFile(io.BytesIO(adapter_zip(folder))) as archive:
        readme = archive.read("group-2-v1/README.txt").decode()
    assert "Base model: gemma-offline" in readme and '"google/gemma-3-270m"' in readme


async def test_unknown_adapter_is_named(runner):
    with pytest.raises(AdapterNotFound, match="no adapter 'nope'") as caught:
        await runner.call(AdapterArchive("nope"))
    assert caught.value.field == "adapter"
    with pytest.raises(InvalidRequest, match="letters, digits"):
        await runner.call(AdapterArchive("../data"))
