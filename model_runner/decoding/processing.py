"""Per-step logit processing and token choice, on `[batch, vocab]` tensors.

Each function treats rows independently and takes per-row settings (a number applies to
every row), so a batched engine can mix requests with different settings in one step.
Filtered-out tokens get `-inf`, as in transformers, so they have probability 0 afterwards.
The order for sampling is transformers' order: n-gram ban, temperature, top-k, top-p.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import torch

from model_runner.decoding import stream
from model_runner.decoding.row_top import row_top

PerRow = float | Sequence[float]  # one value for every row, or one value per row


def banned_ngram_tokens(tokens: Sequence[int], size: int) -> list[int]:
    """Tokens that would repeat an n-gram of `size` already in `tokens` (prompt included)."""
    if size <= 0 or len(tokens) + 1 < size:
        return []
    prefix = tuple(tokens[len(tokens) - size + 1 :]) if size > 1 else ()
    banned = []
    for start in range(len(tokens) - size + 1):
        if tuple(tokens[start : start + size - 1]) == prefix:
            banned.append(tokens[start + size - 1])
    return banned


def ban_repeated_ngrams(
    scores: torch.Tensor, sequences: Sequence[Sequence[int]], size: int
) -> torch.Tensor:
    """Set to -inf every token that would complete an n-gram its row's sequence already has."""
    if size <= 0:
        return scores
    scores = scores.clone()  # [batch, vocab]
    for row, tokens in enumerate(sequences):
        banned = banned_ngram_tokens(tokens, size)
        if banned:
            scores[row, banned] = -float("inf")
    return scores


def ban_end_of_text(
    scores: torch.Tensor, eos_token_id: int | None, new_tokens: int, min_new_tokens: int
) -> torch.Tensor:
    """Before `min_new_tokens` new tokens, the end of text gets -inf in every row (transformers'
    `min_new_tokens`): a model that learned to stop early must still write that many."""
    if eos_token_id is None or new_tokens >= min_new_tokens:
        return scores
    scores = scores.clone()  # [rows, vocab]
    scores[:, eos_token_id] = -float("inf")
    return scores


def _column(values: PerRow, logits: torch.Tensor, *, complement: bool = False) -> torch.Tensor:
    """Per-row values as a `[batch, 1]` tensor in the logits' dtype (1 - value if `complement`)."""
    if isinstance(values, int | float):
        values = [values] * logits.shape[0]
    rows = [1.0 - v for v in values] if complement else [float(v) for v in values]
    return torch.tensor(rows, dtype=logits.dtype, device=logits.device).unsqueeze(1)


def apply_temperature(logits: torch.Tensor, temperature: PerRow) -> torch.Tensor:
    """Divide each row by its temperature (> 1 flattens, < 1 sharpens the distribution)."""
    return logits / _column(temperature, logits)  # [batch, vocab]


def top_k_filter(logits: torch.Tensor, top_k: int | Sequence[int]) -> torch.Tensor:
    """Keep each row's k highest logits (ties with the k-th kept too); k = 0 keeps all."""
    vocab = logits.shape[-1]
    ks = [top_k] * logits.shape[0] if isinstance(top_k, int) else list(top_k)
    if all(k <= 0 or k >= vocab for k in ks):
        return logits
    # Only the largest k are ranked (a partial sort, not the whole vocabulary per step).
    widest = min(max(ks), vocab)
    kth = torch.tensor([max(min(k, vocab), 1) - 1 for k in ks], device=logits.device)  # [batch]
    found = row_top(logits, widest)  # torch.topk's values, else None (a tie, NaN)
    ranked = found[0] if found is not None else torch.topk(logits, widest, dim=-1).values
    threshold = ranked.gather(1, kth.unsqueeze(1))  # [batch, 1]
    off = torch.tensor([k <= 0 for k in ks], device=logits.device).unsqueeze(1)  # [batch, 1]
    threshold = threshold.masked_fill(off, -float("inf"))
    return logits.masked_fill(logits < threshold, -float("inf"))


def top_p_filter(logits: torch.Tensor, top_p: PerRow) -> torch.Tensor:
    """Keep each row's most likely tokens until their probability reaches top_p; 1 keeps all."""
    values = [top_p] * logits.shape[0] if isinstance(top_p, int | float) else list(top_p)
    if all(p >= 1.0 for p in values):
        return logits
    ascending, order = torch.sort(logits, dim=-1)  # [batch, vocab], least likely first
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)  # [batch, vocab]
    drop_sorted = cumulative <= _column(values, logits, complement=True)
    drop_sorted[:, -1] = False  # the most likely token always stays
    drop = drop_sorted.scatter(1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, -float("inf"))


def sampling_probs(
    logits: torch.Tensor, temperature: PerRow, top_k: int | Sequence[int], top_p: PerRow
) -> torch.Tensor:
    """Temperature, then top-k, then top-p, then softmax: the distribution sampling draws from."""
    logits = apply_temperature(logits, temperature)
    logits = top_k_filter(logits, top_k)
    logits = top_p_filter(logits, top_p)
    return logits.softmax(dim=-1)  # [batch, vocab]


def take_rows(scores: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
    """Rows `rows` of `scores`, in that order: a view when they are consecutive, else a copy
    (a row past the end raises, as indexing does)."""
    first = rows[0] if rows else 0
    if list(rows) == list(range(first, first + len(rows))) and first + len(rows) <= len(scores):
        return scores[first : first + len(rows)]
    return scores.index_select(0, torch.tensor(rows, dtype=torch.long, device=scores.device))


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A private random stream: seeded when `seed` is given, else from the OS entropy."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def draw_tokens(
    probs: torch.Tensor, generators: torch.Generator | Sequence[torch.Generator]
) -> torch.Tensor:
    """One token per row from `probs`; a single generator serves all rows, else one per row.
    Each row's token is the one `torch.multinomial` draws from that generator, and the
    generator ends in the same state (`draw_one`)."""
    if isinstance(generators, torch.Generator):
        if probs.shape[0] == 1:
            return draw_one(probs[0], generators).view(1)
        return torch.multinomial(probs, 1, generator=generators).squeeze(1)  # [batch]
    draws = [draw_one(probs[row], generator).view(1) for row, generator in enumerate(generators)]
    return torch.cat(draws)  # [batch]


# draw_one's way pays when at most one token in KEPT_SHARE is in play in a vocabulary of at
# least MIN_VOCAB (measured with benchmarks/draw.py; otherwise multinomial's own is quicker).
KEPT_SHARE = 50
MIN_VOCAB = 8192
MAX_CATEGORIES = 2**24  # torch.multinomial refuses more (its error is kept)


def draw_one(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token from a `[vocab]` distribution: exactly `torch.multinomial(probs, 1)`'s token
    and random stream, at under half its cost when top-k or top-p left few tokens in play.

    On a CPU, multinomial's one-draw path takes an exponential variate per vocabulary entry
    (`-log1p(-u)` of a 53-bit uniform, one 64-bit draw each, in double) and returns the
    argmax of probs / variate; the logarithms are most of its time (about 1.1 ms of 1.2 ms
    per row at GPT-2's 50,257 tokens on the test machine). Tokens with probability 0 cannot
    win, so here the stream advances exactly as multinomial's does, the uniforms converted
    only where probs > 0 (decoding/stream.py; uniform_ over them all where its loop cannot be
    built) and their logarithm taken with the C library's log1p, as PyTorch's kernel does.
    Anything unusual (another device or number format, a small
    vocabulary or many tokens in play, a uniform of exactly 0, invalid probabilities or sizes)
    goes to torch.multinomial itself, the generator put back first where it was used."""
    if (
        probs.device.type != "cpu"
        or generator.device.type != "cpu"
        or probs.dtype not in (torch.float32, torch.float64)
        or probs.dim() != 1
        or not MIN_VOCAB <= probs.shape[0] <= MAX_CATEGORIES
    ):
        return torch.multinomial(probs, 1, generator=generator).view(())
    low, high = torch.aminmax(probs)
    in_play = int(torch.count_nonzero(probs))
    few = probs.shape[0] // KEPT_SHARE
    if not (0 < in_play <= few and low.item() >= 0 and 0 < high.item() < math.inf):
        return torch.multinomial(probs, 1, generator=generator).view(())  # (its own errors)
    kept = probs.nonzero().view(-1)  # ascending, as argmax's first-on-ties order
    state = generator.get_state()
    advanced = state.clone()
    drawn = stream.uniforms_at(advanced, probs.shape[0], kept)  # (only those at `kept`)
    if drawn is not None:
        at_kept, zero = drawn
        if zero:  # multinomial would divide by a zero variate: its way
            return torch.multinomial(probs, 1, generator=generator).view(())
        generator.set_state(advanced)
    else:
        uniforms = _uniforms(probs.shape[0]).uniform_(generator=generator)
        if uniforms.min().item() == 0:
            generator.set_state(state)
            return torch.multinomial(probs, 1, generator=generator).view(())
        at_kept = uniforms[kept]
    ratios = probs[kept] / exponential_variates(at_kept, probs.dtype)
    best = int(torch.argmax(ratios))
    if not ratios[best] > 0:  # every ratio underflowed: the other zeros would tie
        generator.set_state(state)
        return torch.multinomial(probs, 1, generator=generator).view(())
    return kept[best]


def greedy_tokens(scores: torch.Tensor) -> torch.Tensor:
    """Each row's highest-scoring token (the first one on ties)."""
    return torch.argmax(scores, dim=-1)  # [batch]


_scratch = threading.local()


def _uniforms(size: int) -> torch.Tensor:
    """This thread's float64 buffer of `size` for the uniforms (reused from draw to draw)."""
    buffer = getattr(_scratch, "uniforms", None)
    if buffer is None or buffer.numel() != size:
        with torch.inference_mode(False):  # a normal tensor: writable in and out of the mode
            buffer = _scratch.uniforms = torch.empty(size, dtype=torch.float64)
    return buffer


def exponential_variates(uniforms: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`Tensor.exponential_()`'s values from its uniforms (float64): -log1p(-u) through the
    C library's log1p, as PyTorch's CPU kernel computes them (torch.log1p's vectorised
    logarithm differs from it in the last bit for about one double in twelve), in `dtype`."""
    return torch.tensor([-math.log1p(-u) for u in uniforms.tolist()], dtype=torch.float64).to(dtype)
