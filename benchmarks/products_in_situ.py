"""The engine's matrix products timed inside a burst against the same products timed alone.

    python -m benchmarks.products_in_situ             # N=32 on a GPT-2-124M-shaped model
    python -m benchmarks.products_in_situ --n 8 --model tiny

benchmarks/burst.py says how far the engine's passes are from the ceiling, whose products are
timed back to back with their weights warm. This says where the gap lies: one burst (after a
warm-up burst) runs with every oneDNN product call (engine/products.py; on a CPU in float32
every linear layer and the vocabulary projection go through it) timed as it happens; then each
shape seen is timed alone, with the same post-op (GELU fused or none), back to back. For each
shape it prints the calls, the median milliseconds in the burst and alone, and the seconds the
burst lost to the difference. What the products do not explain is the passes' other work
(attention, layer norms, the model's Python).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch

from benchmarks.burst import ClassEngine, build_model, requests, run_engine
from model_runner.engine import products

Shape = tuple[int, int, int, str]  # rows, in, out, post-op


class TimedProducts:
    """While entered, every `torch.ops.mkldnn._linear_pointwise` call is timed by shape."""

    def __init__(self) -> None:
        self.seconds: dict[Shape, list[float]] = defaultdict(list)
        self._op: Callable | None = None

    def __enter__(self) -> TimedProducts:
        self._op = op = torch.ops.mkldnn._linear_pointwise

        def timed(x, weight, bias, attribute, scalars, algorithm):
            start = time.perf_counter()
            out = op(x, weight, bias, attribute, scalars, algorithm)
            rows = x.numel() // x.shape[-1]
            key = (rows, x.shape[-1], out.shape[-1], attribute)
            self.seconds[key].append(time.perf_counter() - start)
            return out

        torch.ops.mkldnn._linear_pointwise = timed
        return self

    def __exit__(self, *_) -> None:
        torch.ops.mkldnn._linear_pointwise = self._op


def alone_seconds(shape: Shape, repeat: int = 15) -> float:
    """The median of `repeat` back-to-back timings of one product of `shape` (after 3 warm-up
    calls), with a random input and weight."""
    rows, inputs, outputs, attribute = shape
    x = torch.randn(rows, inputs)
    packed = products.reorder(torch.randn(outputs, inputs))
    then = "gelu_tanh" if attribute == "gelu" else "none"
    with torch.inference_mode():
        for _ in range(3):
            products.product(x, packed, None, then)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            products.product(x, packed, None, then)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(seconds: dict[Shape, list[float]], top: int = 8) -> list[tuple]:
    """(shape, calls, in-burst median s, alone median s, seconds lost) for the `top` shapes
    that took the burst the longest, longest first."""
    ranked = sorted(seconds.items(), key=lambda item: -sum(item[1]))[:top]
    rows = []
    for shape, times in ranked:
        inside, alone = statistics.median(times), alone_seconds(shape)
        rows.append((shape, len(times), inside, alone, len(times) * (inside - alone)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=50)
    parser.add_argument("--model", choices=["gpt2", "tiny"], default="gpt2")
    args = parser.parse_args()
    device = torch.device("cpu")
    model = build_model(args.model, device, "fp32")
    if not products.usable():
        print("oneDNN products are not used on this machine: nothing to time")
        return
    burst = requests(args.n, model.config.vocab_size, args.new_tokens)
    served = ClassEngine(model, device, len(burst) + 1)
    try:
        run_engine(model, device, burst, served=served)  # warm-up: buffers, measured ways
        with TimedProducts() as timed:
            total, _, run = run_engine(model, device, burst, served=served)
    finally:
        served.close()
    passes = sum(run.spent[name] for name in ("prompts", "forward", "logits"))
    inside = sum(sum(times) for times in timed.seconds.values())
    print(
        f"{args.n} requests x {args.new_tokens} tokens, {torch.get_num_threads()} threads: "
        f"burst {total:.2f} s, passes {passes:.2f} s, of which products {inside:.2f} s"
    )
    print(
        f"{'rows x in -> out, post-op':>32} {'calls':>6} {'burst ms':>9} {'alone ms':>9} {'lost s':>7}"
    )
    for (rows, inputs, outputs, attribute), calls, burst_s, alone_s, lost in compare(timed.seconds):
        name = f"{rows} x {inputs} -> {outputs}, {attribute}"
        print(f"{name:>32} {calls:>6} {burst_s * 1e3:>9.3f} {alone_s * 1e3:>9.3f} {lost:>7.2f}")


if __name__ == "__main__":
    main()
