"""Sampling's one-token draw two ways, alternating in one process: `torch.multinomial` and
decoding/processing.py's `draw_one` (the same token and random stream, the logarithms only
for the tokens in play), on GPT-2's vocabulary after top-k or top-p.

    python -m benchmarks.draw                 # 7 rounds of 200 draws per setting
    python -m benchmarks.draw --rounds 3 --vocab 262144
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from model_runner.decoding.processing import draw_one, sampling_probs

SETTINGS = [("top-k 50", 50, 1.0), ("top-p 0.9", 0, 0.9), ("everything", 0, 1.0)]


def timed(draw, draws: int) -> float:
    """Microseconds per draw."""
    start = time.perf_counter()
    for _ in range(draws):
        draw()
    return (time.perf_counter() - start) / draws * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=50257)
    args = parser.parse_args()
    logits = torch.randn(1, args.vocab, generator=torch.Generator().manual_seed(0)) * 4
    print(f"vocabulary {args.vocab}, {torch.get_num_threads()} threads; microseconds per draw")
    for name, top_k, top_p in SETTINGS:
        probs = sampling_probs(logits, 1.0, top_k, top_p)  # [1, vocab]
        generator = torch.Generator().manual_seed(1)
        ways = {
            "multinomial": lambda probs=probs, g=generator: torch.multinomial(
                probs, 1, generator=g
            ),
            "draw_one": lambda probs=probs, g=generator: draw_one(probs[0], g),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(args.rounds):
            for way, draw in ways.items():
                times[way].append(timed(draw, args.draws))
        plain, quick = (statistics.median(times[way]) for way in ways)
        kept = int((probs > 0).sum())
        print(
            f"{name:>11} ({kept} tokens in play): multinomial {plain:6.0f}, draw_one "
            f"{quick:6.0f} ({plain / quick:.2f}x)"
        )


if __name__ == "__main__":
    main()
