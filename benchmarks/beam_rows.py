"""Beam search's work over the whole vocabulary four ways, alternating in one process: each
request's beams on their own (decoding/beam.py's solo step), every beam request's rows in one
call (log-softmax, running scores added, each row's best continuations), and the engine's
way (decoding/beam.beams_together: one log-softmax over every row, then each row's best with
its score added in one pass, decoding/row_top.py), over all rows and request by request.

    python -m benchmarks.beam_rows                   # 8 requests x 5 beams, GPT-2's vocabulary
    python -m benchmarks.beam_rows --requests 32 --rounds 3

A request's five rows of GPT-2's 50,257 logits are 1 MB, and stay in a core's cache from one
call to the next; all requests' rows in one call are several MB, read from memory at every
call; the one-pass way writes the log-softmax once and reads it once more. Prints
milliseconds per step each way and in how many rounds each beat the per-request way.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model_runner.decoding.row_top import row_top


def per_request(
    logits: torch.Tensor, scores: torch.Tensor, beams: int, keep: int
) -> list[torch.Tensor]:
    """Each request's rows' best `keep` continuations (token ids), request by request."""
    best = []
    for first in range(0, logits.shape[0], beams):
        rows = slice(first, first + beams)
        totals = torch.log_softmax(logits[rows], dim=-1) + scores[rows, None]
        best.append(torch.topk(totals, keep, dim=-1).indices)
    return best


def batched(
    logits: torch.Tensor, scores: torch.Tensor, beams: int, keep: int
) -> list[torch.Tensor]:
    """The same from one call over every request's rows."""
    totals = torch.log_softmax(logits, dim=-1) + scores[:, None]
    return list(torch.topk(totals, keep, dim=-1).indices.split(beams))


def one_pass(
    logits: torch.Tensor, scores: torch.Tensor, beams: int, keep: int
) -> list[torch.Tensor]:
    """What the engine does (decoding/beam.beams_together): one log-softmax over every
    request's rows, then each row's best with its score added in one pass over it
    (decoding/row_top.py; torch.topk where it cannot be used)."""
    log_probs = torch.log_softmax(logits, dim=-1)
    found = row_top(log_probs, keep, scores)
    index = found[1] if found is not None else torch.topk(log_probs + scores[:, None], keep).indices
    return list(index.split(beams))


def one_pass_per_request(
    logits: torch.Tensor, scores: torch.Tensor, beams: int, keep: int
) -> list[torch.Tensor]:
    """The one-pass way request by request."""
    best = []
    for first in range(0, logits.shape[0], beams):
        rows = slice(first, first + beams)
        best.extend(one_pass(logits[rows], scores[rows], beams, keep))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--beams", type=int, default=5)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(args.requests * args.beams, args.vocab, generator=generator) * 3
    scores = torch.randn(args.requests * args.beams, generator=generator)
    keep = 2 * args.beams
    ways = {
        "per request": per_request,
        "batched": batched,
        "one pass": one_pass,
        "one pass per request": one_pass_per_request,
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way, step in ways.items():
            step(logits, scores, args.beams, keep)  # warm
            start = time.perf_counter()
            for _ in range(args.steps):
                step(logits, scores, args.beams, keep)
            times[way].append((time.perf_counter() - start) / args.steps * 1e3)
    print(
        f"{args.requests} requests x {args.beams} beams, vocabulary {args.vocab}, "
        f"{torch.get_num_threads()} threads; milliseconds per step (median of {args.rounds})"
    )
    for way, values in times.items():
        print(f"{way:>20}: {statistics.median(values):.2f}")
    for way in ("batched", "one pass", "one pass per request"):
        wins = sum(b < p for b, p in zip(times[way], times["per request"], strict=True))
        print(f"{way} faster than per request in {wins} of {args.rounds} rounds")


if __name__ == "__main__":
    main()
