"""The engine's vocabulary projection: the transposed, blocked product gives the model's own
logits, every method still gets its own tokens with it, the faster way is the one kept, and
models whose output layer does more than a plain product compute their own logits."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch
from transformers import GPT2LMHeadModel

from model_runner.decoding.run import stepper_for
from model_runner.engine import head as head_module
from model_runner.engine import products
from model_runner.engine.engine import DecodeEngine, DecodeJob
from model_runner.engine.head import VocabularyHead, blocked_product, output_layer
from model_runner.protocol import DecodingParams, Generate
from model_runner.tiny import build_tiny
from tests.model_runner.test_adapters import PROMPT
from tests.model_runner.test_adapters import solo as solo_with_adapter
from tests.model_runner.test_row_batch import METHODS, alone, tiny_gemma


def decode(model, cases, head: VocabularyHead):
    """Each (prompt, settings, n) through one engine that projects with `head`: the tokens,
    and the engine."""
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=64, max_rows=64)
    engine.head = head
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        jobs = []
        for prompt, settings, n in cases:
            params = DecodingParams(max_new_tokens=n, **settings)
            jobs.append(DecodeJob(prompt, stepper_for(params, None, None, "cpu")))
            engine.submit(jobs[-1])
        return [job.future.result(timeout=120).tokens for job in jobs], engine
    finally:
        engine.stop()
        thread.join(timeout=10)


def counting(monkeypatch) -> list[int]:
    """Count the blocked products the engine computes."""
    calls: list[int] = []
    real = head_module.blocked_product

    def counted(weight, hidden, block=head_module.BLOCK):
        calls.append(hidden.shape[0])
        return real(weight, hidden, block)

    monkeypatch.setattr(head_module, "blocked_product", counted)
    return calls


def test_the_blocked_product_is_the_plain_one():
    torch.manual_seed(0)
    weight, hidden = torch.randn(1000, 64), torch.randn(13, 64)
    plain = torch.nn.functional.linear(hidden, weight)
    for block in (128, 333, 1000, 4096):  # a short last block, one block, more than enough
        assert torch.allclose(blocked_product(weight, hidden, block), plain, rtol=1e-5, atol=1e-5)


def test_every_method_gets_its_own_tokens_from_the_blocked_product(gpt2, monkeypatch):
    calls = counting(monkeypatch)
    prompts = [[5, 6, 7], [9, 10, 11, 12, 13]]
    cases = [(prompts[i % 2], METHODS[i % 4], 12) for i in range(8)]
    got, _ = decode(gpt2, cases, VocabularyHead(block=100, way="blocks"))  # 512: 6 blocks
    assert got == [alone(gpt2, *case) for case in cases]
    assert calls and max(calls) > 8  # the prefill and the steps went through it, batched


def test_contrastive_search_projects_only_the_candidate_it_chose(gpt2, monkeypatch):
    calls = counting(monkeypatch)
    contrastive = {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 3}
    cases = [([5, 6, 7], contrastive, 10), ([9, 10, 11, 12], contrastive, 10)]
    cases.append(([5, 6, 7], {"method": "greedy"}, 10))
    got, engine = decode(gpt2, cases, VocabularyHead(block=100, way="blocks"))
    assert got == [alone(gpt2, *case) for case in cases]
    assert max(calls) <= 3  # one row per request, not one per candidate (3 + 3 + 1)
    assert engine.logit_rows < engine.step_rows


def test_a_model_the_engine_does_not_know_computes_its_own_logits(monkeypatch):
    class OtherLM(GPT2LMHeadModel):  # might do anything after its output layer
        pass

    tiny, _ = build_tiny(seed=4)
    model = OtherLM(tiny.config).eval()
    model.load_state_dict(tiny.state_dict())
    assert output_layer(model) is None
    calls = counting(monkeypatch)
    cases = [([5, 6, 7], settings, 6) for settings in METHODS]
    got, _ = decode(model, cases, VocabularyHead(way="blocks"))
    assert got == [alone(model, *case) for case in cases]
    assert calls == []


def test_soft_capped_logits_are_capped_as_the_model_caps_them():
    model = tiny_gemma(num_hidden_layers=1, final_logit_softcapping=2.0)
    ids = torch.tensor([[3, 4, 5, 6]])
    head = VocabularyHead(block=40, way="blocks")
    with torch.inference_mode():
        own = model(input_ids=ids).logits[:, -1]
        with head.deferred(model) as held:
            out = model(input_ids=ids)
        assert out.logits.shape[0] == 0  # the model's own output layer saw no rows
        mine = head.logits(out, held).tensor
    assert own.abs().max() < 2.0  # capped at all, so the test means something
    assert torch.allclose(mine, own, atol=1e-5)


def test_the_fastest_way_is_kept(monkeypatch):
    layer = torch.nn.Linear(1024, 4096, bias=False)  # as large as a real output layer
    hidden = torch.randn(8, 1024)
    products.usable()  # probed before its product is replaced below

    def slow(*args):
        torch.nn.functional.linear(torch.cat([hidden] * 8), layer.weight)  # 8x the work
        return torch.nn.functional.linear(hidden, layer.weight)

    def quick(*args):
        return hidden.new_zeros(8, 4096)

    monkeypatch.setattr(head_module, "blocked_product", slow)
    monkeypatch.setattr(products, "product", slow)
    assert VocabularyHead()._measure(layer, hidden) == "linear"
    assert products.pack(layer) is not None and layer in products._prepared
    products.forget(layer)
    monkeypatch.setattr(head_module, "blocked_product", quick)
    assert VocabularyHead()._measure(layer, hidden) == "blocks"
    assert layer not in products._prepared  # its reordered copy, unused, is let go
    if products.usable():
        monkeypatch.setattr(head_module, "blocked_product", slow)
        monkeypatch.setattr(products, "product", quick)
        assert VocabularyHead()._measure(layer, hidden) == "packed"
        assert layer in products._prepared
    small = torch.nn.Linear(1024, 64, bias=False)
    assert VocabularyHead()._measure(small, hidden) == "linear"  # small: not measured


@pytest.mark.skipif(not products.usable(), reason="this PyTorch has no oneDNN")
def test_every_method_gets_its_own_tokens_from_the_packed_way(gpt2, monkeypatch):
    projected: list[int] = []
    real = products.product

    def product(x, packed, bias, then="none"):
        if x.dim() == 2:  # the vocabulary projection's [rows, hidden] (layers get 3 dims)
            projected.append(x.shape[0])
        return real(x, packed, bias, then)

    monkeypatch.setattr(products, "product", product)
    prompts = [[5, 6, 7], [9, 10, 11, 12, 13, 14]]
    cases = [(prompt, settings, 8) for prompt in prompts for settings in METHODS]
    got, _ = decode(gpt2, cases, VocabularyHead(way="packed"))
    assert got == [alone(gpt2, *case) for case in cases]
    assert projected and max(projected) > 4  # the prefill and the steps, batched


async def test_rows_with_adapters_get_their_own_tokens_from_the_blocked_product(
    tuned, monkeypatch, tmp_path
):
    calls = counting(monkeypatch)
    tuned._engine.head = VocabularyHead(block=100, way="blocks")
    greedy = DecodingParams(method="greedy", max_new_tokens=8)
    contrastive = DecodingParams(method="contrastive", max_new_tokens=6, top_k=3)
    cases = [(None, greedy), ("group-a-v1", greedy), ("group-a-v1", contrastive)]
    results = await asyncio.gather(*(tuned.call(Generate(PROMPT, p, a)) for a, p in cases))
    for (adapter, params), result in zip(cases, results, strict=True):
        path = None if adapter is None else tmp_path / "adapters" / adapter
        assert result.token_ids == solo_with_adapter(path, params)
    assert calls


def test_another_threads_pass_meanwhile_computes_its_own_logits(gpt2):
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        own = gpt2(input_ids=ids).logits
        other: dict[str, torch.Tensor] = {}

        def elsewhere() -> None:
            with torch.no_grad():
                other["logits"] = gpt2(input_ids=ids).logits

        with VocabularyHead(way="blocks").deferred(gpt2):
            thread = threading.Thread(target=elsewhere)
            thread.start()
            thread.join()
    assert torch.equal(other["logits"], own)


def test_the_way_measured_is_kept_for_the_next_engine(monkeypatch):
    layer = torch.nn.Linear(1024, 4096, bias=False)
    hidden = torch.randn(head_module.MEASURE_MIN_ROWS, 1024)
    held = head_module.Held(hidden=hidden, layer=layer)
    timed: list[int] = []
    real = VocabularyHead._measure

    def measure(self, layer, hidden):
        timed.append(hidden.shape[0])
        return real(self, layer, hidden)

    monkeypatch.setattr(VocabularyHead, "_measure", measure)
    first = VocabularyHead()
    assert torch.allclose(first.project(held, hidden), hidden @ layer.weight.T, atol=1e-4)
    second = VocabularyHead()
    second.project(held, hidden)
    assert timed == [hidden.shape[0]] and second.way == first.way  # measured once
    layer.to(torch.bfloat16)  # another number format: measured anew
    low = hidden.bfloat16()
    VocabularyHead().project(head_module.Held(hidden=low, layer=layer), low)
    assert len(timed) == 2


def test_a_steps_logits_are_looked_up_by_batch_row():
    logits = torch.arange(24.0).view(6, 4)
    step = head_module.StepLogits(logits)
    beams = step.of([2, 3, 4])  # consecutive rows (a beam request's): a view, no copy
    assert torch.equal(beams, logits[2:5]) and beams.data_ptr() == logits[2].data_ptr()
    assert torch.equal(step.of([4, 1]), logits[[4, 1]])
    with pytest.raises(IndexError):
        step.of([5, 6])  # a row past the computed ones is an error, not fewer rows
    some = head_module.StepLogits(logits[:2], {7: 0, 9: 1})  # only rows 7 and 9 computed
    assert torch.equal(some.of([9]), logits[1:2])
    with pytest.raises(KeyError):
        some.of([8])
