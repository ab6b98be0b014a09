"""A class-sized burst through the batching engine, against what the hardware allows and the
two baselines a user would write with transformers alone.

    python -m benchmarks.burst                  # N=32 on a GPT-2-124M-shaped model, 3 repeats
    python -m benchmarks.burst --n 128 --repeat 1
    python -m benchmarks.burst --device cuda --n 256

N concurrent requests, a mix of greedy, sampling, 5-beam and contrastive search, 50 new
tokens each (EOS disabled so every request does the same work), on a random-weight model with
GPT-2 small's shape (12 layers, 768 wide, 50257 tokens; the weights do not change the cost).

- ceiling: the machine's matrix-multiply speed at the model's shapes and the burst's row count,
  and the burst's arithmetic as the engine ran it (benchmarks/ceiling.py): the engine's share
  of the ceiling is the ideal time over its time, each run against the ceiling measured right
  after it (the machine's speed drifts with its neighbours), and the median share reported.
- sequential: the requests one after another through `generate()` (the weakest baseline).
- batched by method: what a careful user writes: the requests grouped by method, each group one
  batched, left-padded `generate()` (contrastive, which transformers 5 lacks, through this
  project's own solo implementation, one request at a time).
Each configuration runs `--repeat` times and reports the median; latency is measured from the
moment the burst arrives; peak memory is the resident memory added during the run (on a GPU, the
device memory torch allocated at the peak above the start). The engine
is one engine kept across its runs, as a class's runner keeps one: its first burst (which
lays the KV buffers out in new memory; later bursts reuse them) runs unmeasured and its time
is printed, and the engine's memory is the larger of that burst's and the measured runs'.
It also prints where the engine's time went (the engine counts its seconds in prompts, forward
passes, logits, decisions and row layout): the time outside the model's passes is one
thread's Python, which caps the share of the ceiling even if the passes ran at it. With
`--compete`, the share of the cores a fair scheduler would leave the engine is printed beside
what it kept. Each thread that measured something hands its OpenMP workers back when it is
done (benchmarks/alone.py), so the engine, the baselines and the ceiling each run as the
process's only team, as each would in a process of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from benchmarks.alone import release_openmp_threads
from benchmarks.ceiling import CPU, PeakMemory, burst_gflop, ceiling_gflops, model_shapes
from model_runner.decoding.contrastive import contrastive_search
from model_runner.decoding.run import stepper_for
from model_runner.engine import compiled
from model_runner.engine.engine import PHASES, DecodeEngine, DecodeJob
from model_runner.loading import pick_dtype
from model_runner.protocol import DecodingParams

MIX = [
    {"method": "greedy"},
    {"method": "sampling", "seed": 1, "top_k": 50},
    {"method": "beam", "num_beams": 5},
    {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 4},
]


def build_model(size: str, device: torch.device, precision: str = "auto") -> GPT2LMHeadModel:
    """Random weights, GPT-2 small's shape (or a tiny one for a quick smoke run), in the
    number format the runner would serve it in (`LABBOT_PRECISION`)."""
    if size == "gpt2":
        config = GPT2Config()
    else:
        config = GPT2Config(
            n_layer=2, n_head=2, n_embd=64, vocab_size=512, bos_token_id=0, eos_token_id=0
        )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).to(device).eval()
    return model.to(pick_dtype(device, precision))


def requests(n: int, vocab: int, new_tokens: int) -> list[tuple[list[int], DecodingParams]]:
    """n prompts of 8-24 random tokens, methods cycling through the mix."""
    generator = torch.Generator().manual_seed(1234)
    out = []
    for i in range(n):
        length = 8 + i % 17
        prompt = torch.randint(0, vocab, (length,), generator=generator).tolist()
        out.append((prompt, DecodingParams(max_new_tokens=new_tokens, **MIX[i % len(MIX)])))
    return out


def hf_generate(model, prompt: list[int], params: DecodingParams) -> list[int]:
    """One request through plain transformers (our solo loop for contrastive)."""
    device = next(model.parameters()).device
    ids = torch.tensor([prompt], device=device)
    if params.method == "contrastive":
        return contrastive_search(
            model,
            prompt,
            max_new_tokens=params.max_new_tokens,
            eos_token_id=None,
            penalty_alpha=params.penalty_alpha,
            top_k=params.top_k,
        )
    kwargs: dict = {
        "max_new_tokens": params.max_new_tokens,
        "min_new_tokens": params.max_new_tokens,
        "pad_token_id": 0,
        "eos_token_id": None,
    }
    if params.method == "beam":
        kwargs.update(num_beams=params.num_beams, do_sample=False)
    elif params.method == "sampling":
        kwargs.update(
            do_sample=True, top_k=params.top_k, top_p=params.top_p, temperature=params.temperature
        )
    else:
        kwargs.update(do_sample=False)
    with torch.inference_mode():
        output = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    return output[0, len(prompt) :].tolist()


def run_baseline(model, burst) -> tuple[float, list[float]]:
    start = time.perf_counter()
    latencies = []
    for prompt, params in burst:
        hf_generate(model, prompt, params)
        latencies.append(time.perf_counter() - start)
    return time.perf_counter() - start, latencies


def _generate_batch(model, prompts: list[list[int]], params: DecodingParams) -> None:
    """One left-padded batched `generate()` call for requests of one method."""
    device = next(model.parameters()).device
    longest = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), longest, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompts):
        ids[row, longest - len(prompt) :] = torch.tensor(prompt, device=device)
        mask[row, longest - len(prompt) :] = 1
    kwargs: dict = {
        "max_new_tokens": params.max_new_tokens,
        "min_new_tokens": params.max_new_tokens,
        "pad_token_id": 0,
        "eos_token_id": None,
        "do_sample": params.method == "sampling",
    }
    if params.method == "beam":
        kwargs["num_beams"] = params.num_beams
    elif params.method == "sampling":
        kwargs.update(top_k=params.top_k, top_p=params.top_p, temperature=params.temperature)
    with torch.inference_mode():
        model.generate(ids, attention_mask=mask, **kwargs)


def run_batched_baseline(model, burst) -> tuple[float, list[float]]:
    """The requests grouped by method, each group in one batched call, groups in turn."""
    start = time.perf_counter()
    by_method: dict[str, list[int]] = {}
    for index, (_, params) in enumerate(burst):
        by_method.setdefault(params.method.value, []).append(index)
    latencies = [0.0] * len(burst)
    for indices in by_method.values():
        params = burst[indices[0]][1]
        if params.method.value == "contrastive":
            for index in indices:  # transformers 5 has no contrastive search of its own
                hf_generate(model, *burst[index])
                latencies[index] = time.perf_counter() - start
            continue
        _generate_batch(model, [burst[i][0] for i in indices], params)
        for index in indices:
            latencies[index] = time.perf_counter() - start
    return time.perf_counter() - start, latencies


class ClassEngine:
    """One engine kept running across bursts, as a class's runner keeps one (its buffers and
    measurements are reused from one burst to the next); `threads` 0: its own thread tuner."""

    def __init__(self, model, device, queue_size: int, threads: int = 0) -> None:
        self.engine = DecodeEngine(
            model, device, queue_size=queue_size, max_rows=512, threads=threads
        )
        self._thread = threading.Thread(target=self.engine.run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.engine.stop()
        self._thread.join()


@dataclass
class EngineRun:
    """What one burst took of an engine: its counters' growth during the burst."""

    steps: int
    step_rows: int
    prefill_positions: int  # real prompt tokens
    logit_rows: int
    prefill_padded: int  # prompt positions computed, padding included
    threads: Any  # the engine's thread tuner
    spent: dict[str, float]  # seconds in each part of the engine's work (engine.PHASES)


COUNTERS = ("steps", "step_rows", "prefill_positions", "logit_rows", "prefill_padded")


def run_engine(
    model, device, burst, threads: int = 0, served: ClassEngine | None = None
) -> tuple[float, list[float], EngineRun]:
    """The burst through `served` (else through a fresh engine, closed afterwards)."""
    own = served is None
    served = served or ClassEngine(model, device, len(burst) + 1, threads)
    engine = served.engine
    before = [getattr(engine, name) for name in COUNTERS]
    spent_before = dict(engine.spent)
    start = time.perf_counter()
    jobs = [DecodeJob(prompt, stepper_for(params, None, 0, device)) for prompt, params in burst]
    done_at: dict[int, float] = {}
    for i, job in enumerate(jobs):
        job.future.add_done_callback(lambda _f, i=i: done_at.__setitem__(i, time.perf_counter()))
        engine.submit(job)
    for job in jobs:
        job.future.result()
    total = time.perf_counter() - start
    deadline = time.monotonic() + 10
    while engine._batch.rows and time.monotonic() < deadline:  # the last rows leave
        time.sleep(0.001)
    grown = [getattr(engine, name) - was for name, was in zip(COUNTERS, before, strict=True)]
    spent = {name: engine.spent[name] - spent_before[name] for name in PHASES}
    engine.call(release_openmp_threads).result()  # (the engine's team, until its next burst)
    if own:
        served.close()
    run = EngineRun(*grown, engine.threads, spent)
    return total, [done_at[i] - start for i in range(len(jobs))], run


PASSES = ("prompts", "forward", "logits")  # the model's passes: the matrix products' time


def time_went(total: float, run: EngineRun, ideal: float) -> str:
    """Where an engine run's time went, and what the time outside the model's passes leaves
    of the ceiling even if the passes ran at it."""
    names = {"forward": "forward passes", "layout": "row layout"}
    parts = ", ".join(f"{names.get(k, k)} {v:.2f} s" for k, v in run.spent.items())
    passes = sum(run.spent[name] for name in PASSES)
    outside = total - passes
    steps = max(1, run.steps)
    step_ms = 1e3 * sum(v for k, v in run.spent.items() if k != "prompts") / steps
    return (
        f"where the engine's time went ({total:.2f} s): {parts}, the rest "
        f"{total - sum(run.spent.values()):.2f} s; the passes ran at {ideal / passes:.0%} of "
        f"the ceiling, and the {outside:.2f} s outside them (one thread's Python) alone cap the "
        f"share at {ideal / (ideal + outside):.0%}; a decode step (pass, logits, decisions, "
        f"layout) took {step_ms:.1f} ms on average, at {run.step_rows / steps:.0f} rows"
    )


def fair_share(
    total: float, run: EngineRun, threads: int, busy: int, cores: int | None = None
) -> float:
    """The share of its quiet throughput a fair scheduler leaves the engine when another
    process keeps `busy` threads running on the `cores` (the machine's): the passes'
    `threads` threads and the busy ones share the cores, the one thread of the rest shares
    them with the busy ones only."""
    cores = cores or os.cpu_count() or threads
    passes = sum(run.spent[name] for name in PASSES)
    parallel = min(1.0, cores / (threads + busy))  # of a core, per thread
    serial = min(1.0, cores / (1 + busy))
    return total / (passes / parallel + (total - passes) / serial)


# A second process that keeps `threads` cores busy with matrix products (another program on
# the machine: a second bot, a notebook, the test suite).
COMPETITOR = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(1024, 1024)
while True:
    a @ a
"""


def under_competition(threads: int, run):
    """`run()` while a competing process keeps `threads` cores busy."""
    process = subprocess.Popen([sys.executable, "-c", COMPETITOR, str(threads)])
    try:
        time.sleep(1.0)  # let it start
        return run()
    finally:
        process.kill()
        process.wait()


def with_ceiling(outcome, model, device, shares: list[float]):
    """An engine run's (seconds, latencies, engine) with the ceiling measured right after
    it (the machine's speed drifts with its neighbours): its share is appended to `shares`."""
    total, latencies, engine = outcome
    shapes = model_shapes(model)
    busy_rows = max(1, round(engine.step_rows / max(1, engine.steps)))
    body, head = ceiling_gflops(shapes, busy_rows, next(model.parameters()).dtype, device)
    work = burst_gflop(shapes, engine.prefill_positions, engine.step_rows, engine.logit_rows)
    body_work = (engine.prefill_positions + engine.step_rows) * shapes.body_flop / 1e9
    ideal = body_work / body + (work - body_work) / head
    shares.append(ideal / total)
    return total, latencies, engine, (body, head, work, ideal, busy_rows)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(run, repeat: int, after=None, device: torch.device = CPU):
    """`run()` -> (seconds, latencies, ...) `repeat` times: the run with the median time, and
    the peak memory it added (`after(outcome)`, when given, runs outside the measurement)."""
    results = []
    for _ in range(repeat):
        with PeakMemory(device) as memory:
            outcome = run()
        release_openmp_threads()  # (a baseline's team, on this thread)
        if after is not None:
            outcome = after(outcome)
            release_openmp_threads()
        results.append((outcome, memory.added_mb))
    results.sort(key=lambda item: item[0][0])
    return results[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=50)
    parser.add_argument("--model", choices=["gpt2", "tiny"], default="gpt2")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration")
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], default="auto", help="as LABBOT_PRECISION"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as set)")
    parser.add_argument(
        "--compete",
        type=int,
        default=0,
        metavar="THREADS",
        help="also run the engine while another process keeps THREADS cores busy",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["sequential", "batched"],
        help="baselines to leave out (the sequential one takes longest)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = build_model(args.model, device, args.precision)
    burst = requests(args.n, model.config.vocab_size, args.new_tokens)
    # Warm-ups: transformers' generate(), and the class's engine, long-lived as a runner's: its
    # first burst (a fresh engine's, laying out its buffers in new memory) is not measured.
    hf_generate(model, burst[0][0], burst[0][1])
    handed_back = release_openmp_threads()
    served = ClassEngine(model, device, len(burst) + 1)
    with PeakMemory(device) as first_memory:  # the memory the engine takes for the burst
        first_s = run_engine(model, device, burst, served=served)[0]
    print(
        f"model {args.model} on {device} in {next(model.parameters()).dtype}: "
        f"{torch.get_num_threads()} intra-op threads, "
        f"{torch.get_num_interop_threads()} inter-op; {args.n} requests x {args.new_tokens} "
        f"new tokens, mix {[m['method'] for m in MIX]}; median of {args.repeat}; each "
        f"measurement's OpenMP workers handed back when done: "
        f"{'yes' if handed_back else 'no (torch is not on GNU OpenMP here)'}; decode "
        f"attention {'compiled' if compiled.kernel() else 'in PyTorch products'} on a CPU"
    )
    rows: dict[str, tuple[float, list[float], float]] = {}
    shares: list[float] = []  # each engine run's share of the ceiling measured right after it
    (engine_s, engine_lat, engine, ceiling), engine_mb = measure(
        lambda: run_engine(model, device, burst, served=served),
        args.repeat,
        after=lambda outcome: with_ceiling(outcome, model, device, shares),
        device=device,
    )
    rows["batching engine"] = (engine_s, engine_lat, max(engine_mb, first_memory.added_mb))
    if "batched" not in args.skip:
        (total, lat), mb = measure(
            lambda: run_batched_baseline(model, burst), args.repeat, device=device
        )
        rows["batched by method"] = (total, lat, mb)
    if "sequential" not in args.skip:
        (total, lat), mb = measure(lambda: run_baseline(model, burst), args.repeat, device=device)
        rows["sequential generate()"] = (total, lat, mb)
    tokens = args.n * args.new_tokens
    memory = "GPU memory allocated" if device.type == "cuda" else "resident memory"
    print(f"{'':>22} {'total s':>8} {'tok/s':>8} {'p50 s':>7} {'p95 s':>7} {'+MB':>6} ({memory})")
    for name, (total, lat, mb) in rows.items():
        print(
            f"{name:>22} {total:8.2f} {tokens / total:8.1f} {percentile(lat, 0.5):7.2f} "
            f"{percentile(lat, 0.95):7.2f} {mb:6.0f}"
        )
    for name, (total, _, _) in rows.items():
        if name != "batching engine":
            print(f"engine vs {name}: {total / engine_s:.2f}x throughput")
    print(
        f"engine p95/p50: {percentile(engine_lat, 0.95) / percentile(engine_lat, 0.5):.2f}, "
        f"steps {engine.steps}, mean latency {statistics.mean(engine_lat):.2f} s; a fresh "
        f"engine's first burst (buffers in new memory, not measured above): {first_s:.2f} s"
    )
    body, head, work, ideal, busy_rows = ceiling
    print(
        f"ceiling at {busy_rows} rows: matrix products {body:.0f} GFLOP/s (layers), "
        f"{head:.0f} GFLOP/s (vocabulary); the burst's arithmetic {work:.0f} GFLOP "
        f"({engine.prefill_positions} prompt tokens, prefilled as {engine.prefill_padded} "
        f"positions with padding; {engine.step_rows} row steps) takes "
        f"{ideal:.1f} s at the ceiling, {tokens / ideal:.0f} new tok/s"
    )
    print(
        f"engine's share of the ceiling: {statistics.median(shares):.0%} (median; each run's "
        f"against the ceiling measured right after it: {', '.join(f'{s:.0%}' for s in shares)})"
    )
    print(
        f"engine's thread tuner: {engine.threads.choices} threads to choose from, "
        f"ended at {torch.get_num_threads()}, {engine.threads.switches} switches"
    )
    print(time_went(engine_s, engine, ceiling[3]))
    if args.compete:
        compete(args, model, device, burst, (engine_s, engine), served)
    served.close()


def compete(args, model, device, burst, quiet, served: ClassEngine) -> None:
    """The engine with a second process on the cores: tuned threads (the class's engine),
    then all cores fixed (an engine of its own, its first burst run quietly, unmeasured);
    `quiet`: the quiet run's (seconds, EngineRun)."""
    tokens = args.n * args.new_tokens
    most = torch.get_num_threads()
    quiet_s, quiet_run = quiet
    bound = fair_share(quiet_s, quiet_run, most, args.compete)
    print(
        f"a fair share of the {os.cpu_count()} cores ({most} threads in the passes, "
        f"{args.compete} busy beside them) would leave the engine about {bound:.0%} "
        f"of its quiet throughput"
    )
    fixed = ClassEngine(model, device, len(burst) + 1, threads=most)
    run_engine(model, device, burst, served=fixed)
    for label, engine_of in (("tuned threads", served), (f"fixed {most} threads", fixed)):
        (total, _, engine), _ = measure(
            lambda engine_of=engine_of: under_competition(
                args.compete, lambda: run_engine(model, device, burst, served=engine_of)
            ),
            args.repeat,
        )
        torch.set_num_threads(most)
        print(
            f"with a competing process on {args.compete} core(s), {label}: {total:.2f} s, "
            f"{tokens / total:.1f} tok/s, {quiet_s / total:.0%} of the quiet engine's "
            f"throughput ({engine.threads.switches} switches)"
        )
    fixed.close()


if __name__ == "__main__":
    main()
