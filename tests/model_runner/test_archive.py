"""A saved adapter zips into a folder that peft loads in a notebook, giving the same model."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import zipfile

import pytest
import torch
from peft import PeftModel

from model_runner.archive import PEFT_0_13_FIELDS, adapter_zip, portable_model_name
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


def _zip_texts(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name: archive.read(name).decode()
            for name in archive.namelist()
            if not name.endswith(".safetensors")
        }


async def test_the_zip_config_is_one_the_oldest_supported_peft_reads(runner):
    texts = _zip_texts(await runner.call(AdapterArchive("group-1-v1")))
    config = json.loads(texts["group-1-v1/adapter_config.json"])
    saved = json.loads((runner.adapters.root / "group-1-v1" / "adapter_config.json").read_text())
    # peft 0.13.2 refuses any key its LoraConfig lacks; the runner's peft writes newer ones.
    assert set(config) <= PEFT_0_13_FIELDS < set(saved) | PEFT_0_13_FIELDS
    assert set(saved) - set(config)  # there was something to leave out
    for key in ("r", "lora_alpha", "target_modules", "peft_type", "task_type"):
        assert config[key] == saved[key]


def test_no_file_in_the_zip_names_a_path_on_the_server(tmp_path):
    folder = tmp_path / "g3-v1"
    folder.mkdir()
    config = {
        "base_model_name_or_path": "/home/teacher/.cache/llm-lab-bot/gemma-offline",
        "r": 8,
        "peft_type": "LORA",
        "peft_version": "0.21.2",
        "eva_config": None,
        "qalora_group_size": 16,
    }
    (folder / "adapter_config.json").write_text(json.dumps(config))
    (folder / "training.json").write_text(json.dumps({"base_model": "/srv/models/my-gpt2"}))
    texts = _zip_texts(adapter_zip(folder, "/srv/models/my-gpt2"))
    assert not any("/home" in text or "/srv" in text for text in texts.values())
    zipped = json.loads(texts["g3-v1/adapter_config.json"])
    assert zipped == {"base_model_name_or_path": "google/gemma-3-270m", "r": 8, "peft_type": "LORA"}
    assert json.loads(texts["g3-v1/training.json"])["base_model"] == "my-gpt2"
    assert "Base model: my-gpt2" in texts["g3-v1/README.txt"]


@pytest.mark.parametrize(
    ("name", "portable"),
    [
        ("openai-community/gpt2", "openai-community/gpt2"),
        ("gemma-offline", "gemma-offline"),
        ("/data/models/tinyllama", "tinyllama"),
        ("~/models/gemma-3-270m-q4.gguf", "gemma-3-270m-q4"),
        ("C:\\Users\\Ms Rivera\\models\\gpt2-local", "gpt2-local"),
        ("", ""),
    ],
)
def test_model_names_lose_their_server_paths(name, portable):
    assert portable_model_name(name) == portable


def test_the_readme_says_a_gated_base_model_needs_a_login_and_its_licence(tmp_path):
    folder = tmp_path / "g4-v1"
    folder.mkdir()
    (folder / "training.json").write_text(json.dumps({"base_model": "gemma-offline"}))
    readme = _zip_texts(adapter_zip(folder))["g4-v1/README.txt"]
    assert "https://huggingface.co/google/gemma-3-270m" in readme
    assert "licence" in readme and "hf auth login" in readme and "HF_TOKEN" in readme


@pytest.mark.skipif(
    not os.environ.get("LABBOT_OLD_PEFT_PYTHON"),
    reason="set LABBOT_OLD_PEFT_PYTHON to a Python with peft 0.13.2 (README: the oldest peft)",
)
async def test_peft_0_13_2_loads_the_zip(runner, tmp_path):
    data = await runner.call(AdapterArchive("group-1-v1"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path)
    script = (
        "import sys, peft\n"
        "from peft import PeftConfig\n"
        "config = PeftConfig.from_pretrained(sys.argv[1])\n"
        "print(peft.__version__, config.r, config.target_modules)\n"
    )
    done = subprocess.run(
        [os.environ["LABBOT_OLD_PEFT_PYTHON"], "-c", script, str(tmp_path / "group-1-v1")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "0.13.2"
