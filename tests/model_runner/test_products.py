"""The layers' products through oneDNN (engine/products.py): the same numbers as each
layer's own forward, only on the engine's thread inside `packed_products()` with autograd
off, following a weight changed in place or replaced, never a copy's weights for the
original's, within the memory budget, and used by the engine's passes."""

from __future__ import annotations

import contextlib
import copy
import threading

import pytest
import torch
from transformers.pytorch_utils import Conv1D

from model_runner.engine import products
from model_runner.engine.products import packed_products, prepare
from model_runner.tiny import build_tiny

pytestmark = pytest.mark.skipif(not products.usable(), reason="this PyTorch has no oneDNN")


class Two(torch.nn.Module):
    """An nn.Linear and a GPT-2 Conv1D (weight [in, out]) one after the other."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(48, 80)
        self.conv = Conv1D(32, 80)  # 80 in, 32 out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.linear(x))


def counted(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes of the inputs multiplied by oneDNN."""
    calls: list[tuple[int, ...]] = []
    real = products.product

    def product(x, packed, bias, then="none"):
        calls.append(tuple(x.shape))
        return real(x, packed, bias, then)

    monkeypatch.setattr(products, "product", product)
    return calls


def own(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the model's layers compute with their own forwards."""
    with torch.no_grad():
        return model.conv(torch.nn.functional.linear(x, model.linear.weight, model.linear.bias))


def test_both_kinds_of_layer_give_their_own_numbers(monkeypatch):
    model, x = Two(), torch.randn(3, 7, 48)
    assert prepare(model) == 2
    calls = counted(monkeypatch)
    with torch.no_grad(), packed_products():
        packed = model(x)
    assert calls == [(3, 7, 48), (3, 7, 80)]  # both layers went through oneDNN
    assert torch.allclose(packed, own(model, x), rtol=1e-5, atol=1e-5)
    with torch.no_grad(), packed_products():
        assert torch.allclose(model(x[0, 0]), own(model, x[0, 0]), atol=1e-5)  # one row


def test_outside_the_switch_and_with_autograd_each_layer_runs_its_own(monkeypatch):
    model, x = Two(), torch.randn(4, 48)
    prepare(model)
    calls = counted(monkeypatch)
    with torch.no_grad():
        assert torch.equal(model(x), own(model, x))  # outside: the module's own, exactly
    with packed_products():
        out = model(x)  # autograd on (a fine-tune's pass): its own, and gradients flow
    out.sum().backward()
    assert calls == []
    assert model.linear.weight.grad is not None and model.conv.weight.grad is not None


def test_another_threads_pass_runs_its_own(monkeypatch):
    model, x = Two(), torch.randn(4, 48)
    prepare(model)
    calls = counted(monkeypatch)
    seen: dict[str, torch.Tensor] = {}

    def elsewhere() -> None:
        with torch.no_grad():
            seen["out"] = model(x)

    with packed_products():
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert calls == []
    assert torch.equal(seen["out"], own(model, x))


def test_a_weight_changed_in_place_or_replaced_is_reordered_again():
    model, x = Two(), torch.randn(5, 48)
    prepare(model)
    with torch.no_grad(), packed_products():
        before = model(x)
        model.linear.weight.mul_(-2.0)  # in place (an optimizer's step)
        model.conv.weight.add_(1.0)
        changed = model(x)
        assert not torch.allclose(changed, before, atol=1e-3)
        assert torch.allclose(changed, own(model, x), rtol=1e-5, atol=1e-4)
        model.conv.weight = torch.nn.Parameter(torch.randn(80, 32))  # replaced
        assert torch.allclose(model(x), own(model, x), rtol=1e-5, atol=1e-4)


def test_a_copy_of_the_model_multiplies_its_own_weights():
    model, x = Two(), torch.randn(5, 48)
    prepare(model)
    with torch.no_grad(), packed_products():
        model(x)  # the original's weights reordered
    twin = copy.deepcopy(model)  # as a fine-tune copies the engine's model
    with torch.no_grad():
        twin.linear.weight.mul_(3.0)
    with torch.no_grad(), packed_products():
        assert torch.allclose(twin(x), own(twin, x), rtol=1e-5, atol=1e-4)
        assert torch.allclose(model(x), own(model, x), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(own(twin, x), own(model, x), atol=1e-3)


def test_inference_mode_weights_keep_their_own_forward(monkeypatch):
    with torch.inference_mode():
        model = Two()  # its weights carry no version counter to watch
    x = torch.randn(2, 48)
    prepare(model)
    calls = counted(monkeypatch)
    with torch.inference_mode(), packed_products():
        out = model(x)
    assert calls == []
    assert torch.equal(out, own(model, x))


def test_no_layer_is_prepared_beyond_the_memory_budget(monkeypatch):
    monkeypatch.setattr(products, "MEMORY_SHARE", 0.0)
    model = Two()
    assert prepare(model) == 0
    assert "forward" not in model.linear.__dict__
    assert products.pack(model.linear) is None


def test_a_model_keeps_its_output_layer_and_number_formats_to_itself():
    model, _ = build_tiny(n_layer=2)
    assert prepare(model) == 2 * 4  # c_attn, attention c_proj, c_fc, MLP c_proj per block
    assert "forward" not in model.lm_head.__dict__  # engine/head.py multiplies the vocabulary
    half = Two().to(torch.bfloat16)
    assert prepare(half) == 0  # bfloat16 weights: MKL's and oneDNN's own ways, as before


def test_the_engines_passes_multiply_through_onednn(monkeypatch):
    from model_runner.decoding.run import stepper_for
    from model_runner.engine.engine import DecodeEngine, DecodeJob
    from model_runner.protocol import DecodingParams

    model, _ = build_tiny(n_layer=2, seed=3)
    calls = counted(monkeypatch)
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=8, max_rows=8)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        params = DecodingParams(method="greedy", max_new_tokens=5)
        job = DecodeJob([5, 6, 7, 8], stepper_for(params, None, None, "cpu"))
        engine.submit(job)
        tokens = job.future.result(timeout=60).tokens
    finally:
        engine.stop()
        thread.join(timeout=10)
    assert len(calls) >= 5 * 2 * 4  # every layer of every pass
    with torch.no_grad():
        expected = model.generate(
            torch.tensor([[5, 6, 7, 8]]), max_new_tokens=5, do_sample=False, pad_token_id=0
        )[0, 4:].tolist()
    assert tokens == expected


def _logits(model: torch.nn.Module, ids: torch.Tensor, *, packed: bool) -> torch.Tensor:
    with torch.no_grad(), packed_products() if packed else contextlib.nullcontext():
        return model(input_ids=ids).logits


def test_a_gpt2_mlps_activation_is_fused_into_its_first_product(monkeypatch):
    model, _ = build_tiny(n_layer=2, seed=4)
    prepare(model)
    fused: list[str] = []
    real = products.product

    def product(x, packed, bias, then="none"):
        fused.append(then)
        return real(x, packed, bias, then)

    monkeypatch.setattr(products, "product", product)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    packed = _logits(model, ids, packed=True)
    assert fused.count("gelu_tanh") == 2  # each block's c_fc, with GPT-2's tanh GELU
    own = _logits(model, ids, packed=False)
    assert torch.allclose(packed, own, rtol=1e-4, atol=1e-5)


def test_an_adapter_on_the_first_layer_comes_before_the_activation(monkeypatch):
    from peft import LoraConfig, get_peft_model

    model, _ = build_tiny(n_layer=2, seed=5)
    config = LoraConfig(r=4, target_modules=["c_fc"], fan_in_fan_out=True, init_lora_weights=False)
    adapted = get_peft_model(model, config).eval()
    prepare(adapted)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    calls = counted(monkeypatch)
    packed = _logits(adapted, ids, packed=True)
    assert calls  # the other layers still multiply through oneDNN
    own = _logits(adapted, ids, packed=False)
    assert torch.allclose(packed, own, rtol=1e-4, atol=1e-5)
    with torch.no_grad(), adapted.disable_adapter():
        base = adapted(input_ids=ids).logits
    assert not torch.allclose(own, base, atol=1e-3)  # the adapter does change the logits


def test_an_mlp_with_another_activation_keeps_it():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(6)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=64, activation_function="relu")
    model = GPT2LMHeadModel(config).eval()
    prepare(model)
    ids = torch.tensor([[1, 2, 3, 4]])
    packed = _logits(model, ids, packed=True)
    assert torch.allclose(packed, _logits(model, ids, packed=False), rtol=1e-4, atol=1e-5)


def test_a_prepared_model_still_saves_loads_and_is_watched_by_its_hooks(tmp_path):
    model, _ = build_tiny(n_layer=1, seed=7)
    prepare(model)
    ids = torch.tensor([[3, 4, 5, 6]])
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert torch.allclose(_logits(loaded, ids, packed=False), _logits(model, ids, packed=False))
    seen: list[str] = []
    mlp = model.transformer.h[0].mlp
    for name in ("c_fc", "act"):
        getattr(mlp, name).register_forward_hook(lambda *_, name=name: seen.append(name))
    packed = _logits(model, ids, packed=True)
    assert seen == ["c_fc", "act"]  # a hook sees each call, as without oneDNN
    assert torch.allclose(packed, _logits(model, ids, packed=False), rtol=1e-4, atol=1e-5)


def test_a_weight_moved_to_another_number_format_is_not_multiplied_by_onednn():
    layer = torch.nn.Linear(16, 8)
    packed = products.pack(layer)
    assert packed is not None and packed.weight(layer) is not None
    layer.to(torch.bfloat16)
    assert packed.weight(layer) is None
