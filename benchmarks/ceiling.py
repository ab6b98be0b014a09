"""What the hardware allows: the machine's matrix-multiply speed at the model's own shapes, and
the arithmetic a burst of requests needs, so a benchmark can say what share of the ceiling the
engine reaches (not only how it compares with a baseline).

Decoding a token through a transformer is, to within a few percent, one matrix product per
linear layer (attention scores and softmax are small at these lengths): 2 x in x out floating
point operations per row for each layer, plus the vocabulary projection for rows that need
logits. `ceiling_gflops` times those products at the batch's row count, each the fastest of
the ways PyTorch offers on the machine (plain; transposed, the vocabulary projection a block
at a time; and on a CPU oneDNN through a reordered copy of the weight, engine/products.py),
whichever of them the engine uses; `burst_gflop` counts the rows the engine actually ran (the
prompts' real tokens in prefill: padding is the engine's own waste, not work the burst needs;
one position per row per step, beams and contrastive candidates included). The products are
timed with their weights warm in cache, as a lone benchmark runs them, so the ceiling is if
anything high.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

import torch

from model_runner.engine import products
from model_runner.engine.head import blocked_product

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Shapes:
    """The model's matrix products per token: (in, out) -> how many layers have that shape."""

    body: Counter  # every linear layer except the vocabulary projection
    head: tuple[int, int]  # hidden -> vocabulary

    @property
    def body_flop(self) -> int:
        return sum(2 * i * o * n for (i, o), n in self.body.items())

    @property
    def head_flop(self) -> int:
        return 2 * self.head[0] * self.head[1]


def model_shapes(model: torch.nn.Module) -> Shapes:
    """The linear layers' shapes (nn.Linear and GPT-2's Conv1D) and the vocabulary projection."""
    head = model.get_output_embeddings()
    body: Counter = Counter()
    for module in model.modules():
        if module is head:
            continue
        weight = getattr(module, "weight", None)
        if weight is None or weight.dim() != 2:
            continue
        if isinstance(module, torch.nn.Linear):
            body[(module.in_features, module.out_features)] += 1
        elif type(module).__name__ == "Conv1D":  # transformers' GPT-2 layer: weight [in, out]
            body[(weight.shape[0], weight.shape[1])] += 1
    vocab, hidden = head.weight.shape
    return Shapes(body=body, head=(hidden, vocab))


def _timed(product, device, repeat: int) -> float:
    """The fastest of `repeat` timings of `product()` (after 3 warm-up calls): a ceiling is
    what the machine can do, and on a shared machine the median drifts with the neighbours."""
    for _ in range(3):
        product()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        product()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def _time_onednn(x: torch.Tensor, w: torch.Tensor, device, repeat: int) -> float:
    """x @ w.T through oneDNN with `w` [out, in] reordered ahead (inf where not usable)."""
    if device.type != "cpu" or x.dtype != torch.float32 or not products.usable():
        return float("inf")
    packed = products.reorder(w)
    return _timed(lambda: products.product(x, packed, None), device, repeat)


def _time_matmul(rows: int, shape: tuple[int, int], dtype, device, repeat: int) -> float:
    """A layer's product, the fastest of plain, transposed (as the vocabulary's) and oneDNN."""
    x = torch.randn(rows, shape[0], dtype=dtype, device=device)
    w = torch.randn(shape[0], shape[1], dtype=dtype, device=device)
    wt = w.t().contiguous()
    plain = _timed(lambda: x @ w, device, repeat)
    transposed = _timed(lambda: torch.mm(wt, x.t()).t().contiguous(), device, repeat)
    return min(plain, transposed, _time_onednn(x, wt, device, repeat))


def _time_head(rows: int, shape: tuple[int, int], dtype, device, repeat: int) -> float:
    """The vocabulary projection the fastest of the engine's three ways (engine/head.py): the
    ceiling is the best the machine does, not only the plain product."""
    x = torch.randn(rows, shape[0], dtype=dtype, device=device)
    w = torch.randn(shape[1], shape[0], dtype=dtype, device=device)  # [vocabulary, hidden]
    plain = _timed(lambda: torch.nn.functional.linear(x, w), device, repeat)
    blocks = _timed(lambda: blocked_product(w, x), device, repeat)
    return min(plain, blocks, _time_onednn(x, w, device, repeat))


@torch.inference_mode()
def ceiling_gflops(
    shapes: Shapes, rows: int, dtype=torch.float32, device: torch.device = CPU, repeat: int = 15
) -> tuple[float, float]:
    """(body, vocabulary projection) GFLOP/s of matrix products at `rows` rows, each shape
    the fastest way measured."""
    body_s = sum(
        n * _time_matmul(rows, shape, dtype, device, repeat) for shape, n in shapes.body.items()
    )
    head_s = _time_head(rows, shapes.head, dtype, device, repeat)
    return rows * shapes.body_flop / body_s / 1e9, rows * shapes.head_flop / head_s / 1e9


def burst_gflop(shapes: Shapes, prefill_positions: int, step_rows: int, logit_rows: int) -> float:
    """The burst's arithmetic: every position through the body, the logit rows through the
    vocabulary projection (prefill keeps the last position's logits only)."""
    return (
        (prefill_positions + step_rows) * shapes.body_flop + logit_rows * shapes.head_flop
    ) / 1e9


class PeakMemory:
    """The memory a run adds at its peak: on a CPU the process's resident memory, sampled
    every 20 ms, above where it started; on a GPU (`device` cuda) the device memory torch
    allocated at its peak above what was allocated at the start (the memory a GPU runs out
    of; the host's is then small and steady)."""

    def __init__(self, device: torch.device = CPU) -> None:
        self.gpu = device if device.type == "cuda" else None
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakMemory:
        if self.gpu is not None:
            torch.cuda.synchronize(self.gpu)
            torch.cuda.reset_peak_memory_stats(self.gpu)
            self.start = self.peak = torch.cuda.memory_allocated(self.gpu)
            return self
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        if self.gpu is not None:
            torch.cuda.synchronize(self.gpu)
            self.peak = torch.cuda.max_memory_allocated(self.gpu)
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def added_mb(self) -> float:
        return (self.peak - self.start) / 2**20


def _rss() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096
    except OSError:  # not Linux: no sampling
        return 0
