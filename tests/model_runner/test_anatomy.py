"""Attention weights and embedding neighbours: the model's own numbers, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model

from model_runner.protocol import Attention, DecodingParams, Embedding, Generate, InvalidRequest
from model_runner.tiny import build_tiny

TEXT = "Mix the flour with the eggs"


def eager_reference(text: str):
    """A fresh tiny model with eager attention: its own attention outputs, per layer."""
    model, tokenizer = build_tiny()
    model.set_attn_implementation("eager")
    ids = [tokenizer.bos_token_id, *tokenizer(text)["input_ids"]]
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True, output_hidden_states=True)
    return model, ids, out


async def test_weights_are_the_models_own_attention_outputs(runner):
    _, ids, out = eager_reference(TEXT)
    for layer in (1, 2):
        for head in (None, 1, 2):
            result = await runner.call(Attention(TEXT, layer=layer, head=head))
            maps = out.attentions[layer - 1][0]  # [heads, T, T]
            expected = maps.mean(dim=0) if head is None else maps[head - 1]
            weights = torch.tensor(result.weights)
            assert [t.id for t in result.tokens] == ids
            assert torch.allclose(weights, expected, atol=1e-6), (layer, head)
            assert torch.allclose(weights.sum(dim=-1), torch.ones(len(ids)), atol=1e-5)
            assert torch.equal(weights.triu(diagonal=1), torch.zeros_like(weights))  # causal
            assert result.attends_to == [
                int(row[: i + 1].argmax()) for i, row in enumerate(weights)
            ]


async def test_weights_match_softmax_of_queries_and_keys(runner):
    """Layer 1, head 2 recomputed from the layer's q and k: softmax(q.k / sqrt(d)), causal."""
    model, ids, out = eager_reference(TEXT)
    block = model.transformer.h[0]
    with torch.no_grad():
        qkv = block.attn.c_attn(block.ln_1(out.hidden_states[0][0]))  # [T, 3 * E]
    embed, heads = model.config.n_embd, model.config.n_head
    d = embed // heads
    q, k, _ = qkv.split(embed, dim=-1)
    q, k = q[:, d : 2 * d], k[:, d : 2 * d]  # head 2
    scores = q @ k.T / math.sqrt(d)  # [T, T]
    causal = torch.ones(len(ids), len(ids), dtype=torch.bool).tril()
    expected = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    result = await runner.call(Attention(TEXT, layer=1, head=2))
    assert torch.allclose(torch.tensor(result.weights), expected, atol=1e-5)


async def test_defaults_last_layer_mean_of_heads_and_sdpa_restored(runner):
    loaded = await runner.wait_ready()
    assert loaded.model.config._attn_implementation == "sdpa"
    result = await runner.call(Attention(TEXT))
    assert (result.layer, result.head, result.layers, result.heads) == (2, None, 2, 2)
    assert result.tokens[0].piece == "<|endoftext|>" and result.attends_to_in_text[0] == 0
    assert all(j >= 1 for j in result.attends_to_in_text[1:])  # the start token is skipped
    assert loaded.model.config._attn_implementation == "sdpa"  # the engine's kernels are back
    assert result.compute_ms > 0 and result.model == "tiny"


async def test_loaded_adapters_do_not_change_the_weights(runner, tmp_path):
    before = await runner.call(Attention(TEXT, layer=1))
    model, _ = build_tiny()
    torch.manual_seed(3)
    config = LoraConfig(
        r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(tmp_path / "adapters" / "group-a")
    await runner.call(Generate("Mix", DecodingParams(max_new_tokens=2), adapter="group-a"))
    after = await runner.call(Attention(TEXT, layer=1))  # the engine's model is a PeftModel now
    assert after.weights == before.weights


def brute_force_neighbours(word: str, top: int) -> list[tuple[int, float]]:
    model, tokenizer = build_tiny()
    table = model.get_input_embeddings().weight.detach()  # [V, H]
    ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
    vector = table[ids].mean(dim=0)
    scored = []
    for token_id in range(table.shape[0]):
        if token_id in ids or token_id in tokenizer.all_special_ids:
            continue
        row = table[token_id]
        scored.append((token_id, float(row @ vector / (row.norm() * vector.norm()))))
    return sorted(scored, key=lambda pair: -pair[1])[:top]


async def test_neighbours_match_a_brute_force_search(runner):
    result = await runner.call(Embedding(["flour", "bake the cake"], top=5))
    assert result.top == 5 and [w.word for w in result.words] == ["flour", "bake the cake"]
    assert [t.piece for t in result.words[1].tokens] == ["Ġbake", "Ġthe", "Ġcake"]
    for entry in result.words:
        expected = brute_force_neighbours(entry.word, 5)
        assert [n.id for n in entry.neighbours] == [i for i, _ in expected]
        assert [n.similarity for n in entry.neighbours] == pytest.approx(
            [s for _, s in expected], abs=1e-5
        )


async def test_picture_is_a_pca_of_unit_vectors(runner):
    result = await runner.call(Embedding(["flour", "eggs", "cake"], top=4))
    points = result.points
    assert len(points) == 3 * 5
    assert [p.label for p in points if p.is_word] == ["flour", "eggs", "cake"]
    assert [p.label for p in points[1:5]] == [n.display for n in result.words[0].neighbours]
    # Independent PCA: eigenvectors of the covariance of the unit vectors.
    model, tokenizer = build_tiny()
    table = model.get_input_embeddings().weight.detach().numpy()
    vectors = []
    for entry in result.words:
        vectors.append(table[[t.id for t in entry.tokens]].mean(axis=0))
        vectors.extend(table[n.id] for n in entry.neighbours)
    units = np.stack([v / np.linalg.norm(v) for v in vectors])
    centred = units - units.mean(axis=0)
    values, axes = np.linalg.eigh(centred.T @ centred)
    expected = centred @ axes[:, ::-1][:, :2]  # the two largest components
    got = np.array([[p.x, p.y] for p in points])
    assert np.allclose(np.abs(got), np.abs(expected), atol=1e-4)
    assert result.explained == pytest.approx(list(values[::-1][:2] / values.sum()), abs=1e-4)


@pytest.mark.parametrize(
    ("call", "field", "words"),
    [
        (lambda r: r.call(Attention(TEXT, layer=0)), "layer", "layer must be at least 1 (got 0)"),
        (lambda r: r.call(Attention(TEXT, layer=3)), "layer", "layer must be between 1 and 2"),
        (lambda r: r.call(Attention(TEXT, head=5)), "head", "head must be between 1 and 2 (got 5)"),
        (lambda r: r.call(Attention("eggs " * 70)), "text", "at most 64 tokens"),
        (lambda r: r.call(Attention("")), "text", "must not be empty"),
        (lambda r: r.call(Embedding([])), "words", "1-8 words (got 0)"),
        (lambda r: r.call(Embedding(["a"] * 9)), "words", "1-8 words (got 9)"),
        (lambda r: r.call(Embedding(["x" * 41])), "words", "at most 40 characters"),
        (
            lambda r: r.call(Embedding(["cake"], top=21)),
            "top",
            "top must be between 1 and 20 (got 21)",
        ),
    ],
)
async def test_bad_values_name_the_field_and_range(runner, call, field, words):
    with pytest.raises(InvalidRequest) as caught:
        await call(runner)
    assert caught.value.field == field and words in str(caught.value)
