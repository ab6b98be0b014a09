"""The decode step's attention four ways, in alternating bursts of one process: the fused SDPA
kernel over the columns in use, and engine/attention.py's read of the whole buffers, by
PyTorch's products or by the compiled loop (engine/compiled.py; left out where it is not built),
the loop with a request's rows reading their common columns once (as the engine runs it) and
with every row reading its own.

    python -m benchmarks.decode_attention            # 7 rounds of N=32 bursts, GPT-2 small shape
    python -m benchmarks.decode_attention --pairs 3 --n 64

Alternating the two in one process, each pair back to back, keeps the machine's drift (its
neighbours, its memory state) out of the comparison as far as one process can. Prints each
burst's throughput and attention time (every attention call of the burst, prefill included),
then the medians and in how many rounds each whole-buffer way beat the kernel, the compiled
loop the products, and the shared reads each row's own.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchmarks.burst import build_model, requests, run_engine
from model_runner.engine import attention, compiled
from model_runner.engine.batch import RowBatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--n", type=int, default=32, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=50)
    args = parser.parse_args()
    device = torch.device("cpu")
    spent = [0.0]
    original = attention.whole_buffer_attention

    def timed(*call, **options):  # installed in transformers' place by the first engine
        start = time.perf_counter()
        try:
            return original(*call, **options)
        finally:
            spent[0] += time.perf_counter() - start

    attention.whole_buffer_attention = timed  # type: ignore[assignment]
    model = build_model("gpt2", device)
    burst = requests(args.n, model.config.vocab_size, args.new_tokens)
    run_engine(model, device, burst)  # warm-up
    tokens = args.n * args.new_tokens
    loop = compiled.kernel()
    ways = [("SDPA kernel", float("inf"), None), ("products", attention.SLAB_SHARE, None)]
    if loop is not None:
        ways.append(("compiled loop", attention.SLAB_SHARE, loop))
        ways.append(("rows apart", attention.SLAB_SHARE, loop))
    rates: dict[str, list[float]] = {name: [] for name, _, _ in ways}
    share = attention.SLAB_SHARE
    sharing = RowBatch.sharing

    def apart(batch: RowBatch) -> tuple[list[int], list[int]]:
        return list(range(batch.rows)), [0] * batch.rows  # every row reads its own columns

    for _ in range(args.pairs):
        for way, threshold, used in ways:
            attention.SLAB_SHARE = threshold
            compiled._built[:] = [used]
            RowBatch.sharing = apart if way == "rows apart" else sharing  # type: ignore[method-assign]
            spent[0] = 0.0
            total, _, _ = run_engine(model, device, burst)
            rates[way].append(tokens / total)
            print(
                f"{way:>14}: {total:6.2f} s, {tokens / total:6.1f} tok/s, attention {spent[0]:.2f} s"
            )
    attention.SLAB_SHARE = share
    compiled._built[:] = [loop]
    RowBatch.sharing = sharing  # type: ignore[method-assign]
    for way, values in rates.items():
        print(f"{way:>14}: median {statistics.median(values):.1f} tok/s")
    for way, against in (
        ("products", "SDPA kernel"),
        ("compiled loop", "SDPA kernel"),
        ("compiled loop", "products"),
        ("compiled loop", "rows apart"),
    ):
        if rates.get(way):
            wins = sum(a > b for a, b in zip(rates[way], rates[against], strict=True))
            print(f"{way} faster than {against} in {wins} of {args.pairs} rounds")


if __name__ == "__main__":
    main()
