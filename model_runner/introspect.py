"""The lab's pre-training steps made visible: tokenisation, next-token probabilities, loss.

Each function takes a loaded model and the values of an operation (checked when the request
was built) and returns its result; the runner calls them on its worker thread. References: the GPT-2 byte-level BPE (Radford et al.,
2019) marks a leading space with "Ġ"; SentencePiece (Gemma) with "▁". Loss is the
cross-entropy of each token given the ones before it, and perplexity is exp(mean loss).
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from model_runner.decoding.processing import (
    apply_temperature,
    draw_tokens,
    make_generator,
    top_k_filter,
    top_p_filter,
)
from model_runner.loading import LoadedModel
from model_runner.protocol import (
    InvalidRequest,
    LossResult,
    NextTokenResult,
    SamplerStagesResult,
    StageToken,
    TokenizeResult,
    TokenLoss,
    TokenPiece,
    TokenProbability,
)
from model_runner.protocol import limits as L


def readable(text: str) -> str:
    """Show whitespace: "␣" for spaces at the edges, "↵" for newlines, "⇥" for tabs."""
    shown = text.replace("\n", "↵").replace("\t", "⇥")
    stripped = shown.lstrip(" ")
    shown = "␣" * (len(shown) - len(stripped)) + stripped
    stripped = shown.rstrip(" ")
    return stripped + "␣" * (len(shown) - len(stripped)) if shown else "∅"


def _byte_level_table() -> dict[str, int]:
    """GPT-2's byte-level BPE writes each byte as a printable character; this undoes it."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_BYTE_LEVEL = _byte_level_table()


def decode_text(tokenizer: PreTrainedTokenizerBase, ids: list[int], **kwargs: Any) -> str:
    """The text of one sequence of token ids (transformers types `decode` for batches too)."""
    text = tokenizer.decode(ids, **kwargs)
    if not isinstance(text, str):
        raise TypeError(f"the tokenizer decoded one sequence into {type(text).__name__}")
    return text


def decode_one(tokenizer: PreTrainedTokenizerBase, token_id: int) -> str:
    """One token's text, exactly as it decodes (no clean-up of spaces)."""
    return decode_text(tokenizer, [token_id], clean_up_tokenization_spaces=False)


def display_token(
    tokenizer: PreTrainedTokenizerBase, token_id: int, decoded: str | None = None
) -> str:
    """A token as a student can read it, even when it is a fragment of a character."""
    decoded = decode_one(tokenizer, token_id) if decoded is None else decoded
    if "\ufffd" not in decoded and decoded.isprintable() or decoded.strip(" \n\t") == "":
        return readable(decoded)
    piece = tokenizer.convert_ids_to_tokens([token_id])[0]
    if piece.startswith("<0x") and piece.endswith(">"):
        return piece  # SentencePiece byte fallback already reads well
    if all(ch in _BYTE_LEVEL for ch in piece):
        return "".join(f"<0x{_BYTE_LEVEL[ch]:02X}>" for ch in piece)
    return "".join(ch if ch.isprintable() else f"<0x{ord(ch):02X}>" for ch in decoded)


def tokenize(loaded: LoadedModel, text: str) -> TokenizeResult:
    """Split `text` into the model's tokens."""
    tokenizer = loaded.tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return TokenizeResult(text=text, tokens=token_pieces(tokenizer, ids))


def token_pieces(tokenizer: PreTrainedTokenizerBase, ids: list[int]) -> list[TokenPiece]:
    """Each id as a `TokenPiece`: vocabulary entry, decoded text and readable form."""
    pieces = tokenizer.convert_ids_to_tokens(ids)
    tokens = []
    for token_id, piece in zip(ids, pieces, strict=True):
        decoded = decode_one(tokenizer, token_id)
        display = display_token(tokenizer, token_id, decoded)
        tokens.append(TokenPiece(id=token_id, piece=piece, text=decoded, display=display))
    return tokens


def context_ids(loaded: LoadedModel, text: str) -> list[int]:
    """Token ids of `text` as the model should see them: with a beginning-of-text token.

    GPT-2's tokenizer adds none, but the model was trained on documents separated by
    <|endoftext|>, so it is prepended; Gemma's tokenizer adds <bos> itself.
    """
    tokenizer = loaded.tokenizer
    ids = tokenizer(text)["input_ids"]
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos, *ids]
    return ids


@torch.inference_mode()
def next_token(
    loaded: LoadedModel, prompt: str, temperature: float = 1.0, top: int = 10
) -> NextTokenResult:
    """The `top` most likely next tokens after `prompt`, softmax(logits / temperature)."""
    # Encoded exactly as for generation, so this is the distribution the first token of
    # /generate is chosen from.
    prompt_ids = loaded.tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids], device=loaded.device)  # [1, T]
    logits = (
        loaded.model(ids, attention_mask=torch.ones_like(ids)).logits[0, -1].float()
    )  # [V], the prediction after the prompt
    probs = torch.softmax(logits / temperature, dim=-1)
    values, indices = torch.topk(probs, k=min(top, probs.shape[-1]))
    candidates = []
    for p, token_id in zip(values.tolist(), indices.tolist(), strict=True):
        text = decode_one(loaded.tokenizer, token_id)
        display = display_token(loaded.tokenizer, token_id, text)
        candidates.append(TokenProbability(id=token_id, text=text, display=display, probability=p))
    return NextTokenResult(prompt=prompt, temperature=temperature, candidates=candidates)


@torch.inference_mode()
def sampler_stages(
    loaded: LoadedModel,
    prompt: str,
    temperature: float,
    top_k: int,
    top_p: float,
    top: int,
    seed: int | None,
) -> SamplerStagesResult:
    """The next-token distribution after each stage of Random Sampling, and one token drawn
    from the last, with the functions and random stream the sampler itself uses: the drawn
    token is the first token /generate samples with the same seed."""
    prompt_ids = loaded.tokenizer(prompt)["input_ids"]
    ids = torch.tensor([prompt_ids], device=loaded.device)  # [1, T]
    logits = loaded.model(ids, attention_mask=torch.ones_like(ids)).logits[:, -1].float()
    heated = apply_temperature(logits, temperature)  # [1, V]
    kept_k = top_k_filter(heated, top_k)
    kept_p = top_p_filter(kept_k, top_p)
    stages = {
        "model": logits,
        f"temperature {temperature:g}": heated,
        f"top-k {top_k}" if top_k else "top-k off": kept_k,
        f"top-p {top_p:g}" if top_p < 1 else "top-p off": kept_p,
    }
    probs = [stage.softmax(dim=-1)[0] for stage in stages.values()]  # [V] each
    if seed is None:
        seed = random.randrange(L.SEED_RANGE[1] + 1)
    drawn_id = int(draw_tokens(probs[-1][None], make_generator(seed, loaded.device))[0])

    def token(token_id: int) -> StageToken:
        text = decode_one(loaded.tokenizer, token_id)
        return StageToken(
            id=token_id,
            text=text,
            display=display_token(loaded.tokenizer, token_id, text),
            probabilities=[float(p[token_id]) for p in probs],
        )

    order = torch.topk(probs[0], k=min(top, probs[0].shape[-1])).indices.tolist()
    return SamplerStagesResult(
        prompt=prompt,
        stages=list(stages),
        kept=[int((p > 0).sum()) for p in probs],
        candidates=[token(token_id) for token_id in order],
        drawn=token(drawn_id),
        seed=seed,
    )


@torch.inference_mode()
def loss(loaded: LoadedModel, text: str) -> LossResult:
    """Each token's probability and cross-entropy given the tokens before it."""
    ids = context_ids(loaded, text)  # without a BOS token, the first token gets no loss
    if len(ids) < 2:
        raise InvalidRequest("text must have at least two tokens", field="text")
    inputs = torch.tensor([ids], device=loaded.device)  # [1, T]
    logits = (
        loaded.model(inputs, attention_mask=torch.ones_like(inputs)).logits[0, :-1].float()
    )  # [T-1, V]: predictions for 1..T-1
    log_probs = torch.log_softmax(logits, dim=-1)
    targets = inputs[0, 1:]  # [T-1]
    token_log_probs = log_probs.gather(1, targets[:, None])[:, 0]  # [T-1]
    tokens = []
    for token_id, log_p in zip(targets.tolist(), token_log_probs.tolist(), strict=True):
        text_piece = decode_one(loaded.tokenizer, token_id)
        tokens.append(
            TokenLoss(
                id=token_id,
                display=display_token(loaded.tokenizer, token_id, text_piece),
                probability=math.exp(log_p),
                loss=-log_p,
                text=text_piece,
            )
        )
    mean = sum(t.loss for t in tokens) / len(tokens)
    return LossResult(text=text, tokens=tokens, mean_loss=mean, perplexity=math.exp(mean))
