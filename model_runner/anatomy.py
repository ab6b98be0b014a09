"""Inside the model: the attention weights over a text, and the geometry of token embeddings.

Attention (Vaswani et al., 2017): each layer's heads weigh the earlier tokens by
softmax(q·k / sqrt(d)); a causal model gives no weight to later tokens, so every row of the
matrix sums to 1 over the tokens up to and including its own. The fused attention kernels
(PyTorch's scaled_dot_product_attention, flash attention) never build that matrix, so the
model runs with transformers' "eager" attention for the call and is switched back after.

Embeddings: the model's input embedding table holds one learned vector per vocabulary token.
A word's neighbours are the tokens whose vectors point the most the same way (cosine
similarity), and a 2-D picture of the words and their neighbours comes from a principal
component analysis (the two directions in which the unit vectors spread most).

Like `introspect`, each function takes a loaded model and plain values and returns an `api`
result; the runner calls them on its worker thread, between decoding steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from model_runner.introspect import (
    context_ids,
    decode_one,
    display_token,
    token_pieces,
)
from model_runner.loading import LoadedModel
from model_runner.protocol import (
    AttentionResult,
    EmbeddingPoint,
    EmbeddingResult,
    InvalidRequest,
    Neighbour,
    RunnerError,
    WordNeighbours,
)
from model_runner.protocol.limits import MAX_TOKENS, TOP_DEFAULT, check_int

_CHUNK_ROWS = 32768  # vocabulary rows compared at once (bounds memory for Gemma's 262k tokens)


# --- helpers shared with trainstep -------------------------------------------------------


def check_token_count(tokenizer: PreTrainedTokenizerBase, text: str) -> None:
    """The text's own tokens (special tokens not counted) are at most MAX_TOKENS."""
    count = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if count > MAX_TOKENS:
        raise InvalidRequest(
            f"text must be at most {MAX_TOKENS} tokens (got {count})", field="text"
        )
    if count == 0:
        raise InvalidRequest("text must contain at least one token", field="text")


@contextmanager
def base_weights(model: torch.nn.Module) -> Iterator[None]:
    """The shared model's own weights for the duration: once groups' LoRA adapters are
    loaded, the engine's model is a `PeftModel` whose LoRA layers would otherwise apply."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        with model.disable_adapter():
            yield
    else:
        yield


@contextmanager
def eager_attention(model: PreTrainedModel) -> Iterator[None]:
    """transformers' eager attention for the duration, which returns the attention weights."""
    before = model.config._attn_implementation
    if before == "eager":
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)  # the engine decodes with what was loaded


# --- attention ---------------------------------------------------------------------------


@torch.inference_mode()
def attention(
    loaded: LoadedModel,
    text: str,
    layer: int | None = None,
    head: int | None = None,
    *,
    shared: torch.nn.Module | None = None,
) -> AttentionResult:
    """Attention weights of `layer` (1-based, default the last) over the tokens of `text`,
    of one `head` (1-based) or averaged over the heads (None). A beginning-of-text token goes
    first, as in `introspect.loss`, and is listed among the tokens.

    `shared` is the engine's model when it differs from `loaded.model` (a `PeftModel` once
    adapters are loaded); its adapters are switched off so the weights are the base model's.
    """
    config = loaded.model.config.get_text_config()
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    layer = layers if layer is None else check_int("layer", layer, 1, layers)
    if head is not None:
        check_int("head", head, 1, heads)
    tokenizer = loaded.tokenizer
    check_token_count(tokenizer, text)
    ids = context_ids(loaded, text)  # beginning-of-text token first, for GPT-2 too
    inputs = torch.tensor([ids], device=loaded.device)  # [1, T]
    with base_weights(shared or loaded.model), eager_attention(loaded.model):
        out = loaded.model(
            inputs, attention_mask=torch.ones_like(inputs), output_attentions=True, use_cache=False
        )
    if not out.attentions or len(out.attentions) != layers:
        raise RunnerError("this model does not report its attention weights")
    maps = out.attentions[layer - 1][0].float()  # [heads, T, T]: query row, key column
    weights = (maps.mean(dim=0) if head is None else maps[head - 1]).tril()  # [T, T]
    attends_to = [int(weights[i, : i + 1].argmax()) for i in range(len(ids))]
    # Most heads park their spare weight on the first token (an "attention sink", Xiao et al.,
    # 2023), so also say which of the text's own tokens each token weighs most.
    special = set(tokenizer.all_special_ids)
    own = torch.tensor([i not in special for i in ids], device=weights.device)  # [T]
    in_text = []
    for i in range(len(ids)):
        row = weights[i, : i + 1].masked_fill(~own[: i + 1], -1.0)
        in_text.append(int(row.argmax()) if own[: i + 1].any() else i)
    return AttentionResult(
        text=text,
        tokens=token_pieces(tokenizer, ids),
        layer=layer,
        head=head,
        layers=layers,
        heads=heads,
        weights=weights.cpu().tolist(),
        attends_to=attends_to,
        attends_to_in_text=in_text,
    )


# --- embeddings --------------------------------------------------------------------------


def word_ids(tokenizer: PreTrainedTokenizerBase, word: str) -> list[int]:
    """The tokens of `word` as it appears inside a sentence, after a space ("␣king")."""
    return tokenizer(" " + word, add_special_tokens=False)["input_ids"]


def cosine_to_vocabulary(table: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of `table` [V, H] to each of `vectors` [W, H]: [V, W]."""
    units = torch.nn.functional.normalize(vectors.float(), dim=-1)  # [W, H]
    parts = []
    for chunk in table.split(_CHUNK_ROWS):
        rows = torch.nn.functional.normalize(chunk.float(), dim=-1)  # [chunk, H]
        parts.append(rows @ units.T)  # [chunk, W]
    return torch.cat(parts)


def pca_2d(vectors: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Project [N, H] onto its first two principal components: ([N, 2], variance shares).

    Each axis is turned so that the point farthest along it lies on its positive side, which
    makes the picture the same from run to run (an SVD may return either sign).
    """
    centred = vectors.float() - vectors.float().mean(dim=0)  # [N, H]
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)  # vh: [min(N, H), H]
    coords = centred @ vh[:2].T  # [N, <=2]
    if coords.shape[1] < 2:  # a single dimension: nothing to spread along y
        coords = torch.cat([coords, torch.zeros_like(coords)], dim=1)
    for axis in range(2):
        far = coords[:, axis].abs().argmax()
        if coords[far, axis] < 0:
            coords[:, axis] = -coords[:, axis]
    variance = singular.square()
    total = float(variance.sum())
    shares = [float(v) / total if total > 0 else 0.0 for v in variance[:2].tolist()]
    return coords, (shares + [0.0, 0.0])[:2]


def input_embeddings(model: PreTrainedModel) -> torch.Tensor:
    """The model's input-embedding table, [vocabulary, hidden]."""
    weight = model.get_input_embeddings().weight
    if not isinstance(weight, torch.Tensor):
        raise RunnerError("this model has no input-embedding table")
    return weight


@torch.inference_mode()
def embedding(loaded: LoadedModel, words: list[str], top: int = TOP_DEFAULT) -> EmbeddingResult:
    """For each word, its `top` nearest vocabulary tokens by cosine similarity of input
    embeddings (a word of several tokens takes the mean of their vectors), and a 2-D PCA
    projection of the words together with their neighbours."""
    tokenizer = loaded.tokenizer
    table = input_embeddings(loaded.model)  # [V, H]; LoRA never touches it
    table = table[: min(table.shape[0], len(tokenizer))]  # rows beyond the tokenizer are padding
    pieces = [word_ids(tokenizer, word) for word in words]
    vectors = torch.stack([table[ids].float().mean(dim=0) for ids in pieces])  # [W, H]
    similarity = cosine_to_vocabulary(table, vectors)  # [V, W]
    special = [i for i in tokenizer.all_special_ids if i < table.shape[0]]
    results, picture = [], []
    for w, (word, ids) in enumerate(zip(words, pieces, strict=True)):
        scores = similarity[:, w].clone()  # [V]
        scores[ids + special] = float("-inf")  # the word's own tokens are trivially nearest
        values, indices = torch.topk(scores, k=top)
        neighbours = []
        for token_id, value in zip(indices.tolist(), values.tolist(), strict=True):
            text = decode_one(tokenizer, token_id)
            neighbours.append(
                Neighbour(
                    id=token_id,
                    display=display_token(tokenizer, token_id, text),
                    similarity=value,
                    text=text,
                )
            )
        results.append(
            WordNeighbours(word=word, tokens=token_pieces(tokenizer, ids), neighbours=neighbours)
        )
        picture.append((word, word, True, vectors[w]))
        picture.extend((n.display, word, False, table[n.id].float()) for n in neighbours)
    units = torch.nn.functional.normalize(torch.stack([p[3] for p in picture]), dim=-1)
    coords, explained = pca_2d(units)  # [N, 2]: the cosine geometry, flattened
    points = [
        EmbeddingPoint(label=label, x=x, y=y, word=word, is_word=is_word)
        for (label, word, is_word, _), (x, y) in zip(picture, coords.tolist(), strict=True)
    ]
    return EmbeddingResult(words=results, top=top, points=points, explained=explained)
