"""Model loading: presets, local paths, clear errors, device and dtype choice."""

from __future__ import annotations

import pytest
import torch

from model_runner.loading import ModelLoadError, load_model, pick_dtype


def test_tiny_preset_loads_in_eval_mode(tmp_path):
    loaded = load_model("tiny", device="cpu", data_dir=tmp_path)
    assert loaded.device.type == "cpu" and loaded.dtype == torch.float32
    assert not loaded.model.training
    assert loaded.tokenizer.pad_token_id is not None
    assert loaded.parameters > 0


def test_local_directory_loads(tmp_path):
    loaded = load_model("tiny", device="cpu")
    loaded.model.save_pretrained(tmp_path / "saved")
    loaded.tokenizer.save_pretrained(tmp_path / "saved")
    again = load_model(str(tmp_path / "saved"), device="cpu")
    assert again.parameters == loaded.parameters


def test_unreachable_hub_model_says_what_to_do(tmp_path):
    with pytest.raises(ModelLoadError) as caught:
        load_model("openai-community/gpt2", device="cpu", data_dir=tmp_path)
    message = str(caught.value)
    assert "openai-community/gpt2" in message
    assert "gemma-offline" in message and "local model directory" in message


def test_missing_local_path_is_named(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nothing.gguf"), device="cpu")


def test_dtype_is_fp32_on_the_cpu_and_half_precision_on_gpus(monkeypatch):
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("mps")) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert pick_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert pick_dtype(torch.device("cuda:1")) == torch.float16  # e.g. a T4 or V100
