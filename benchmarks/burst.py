"""A class-sized burst through the batching engine versus plain `generate()` one by one.

    python -m benchmarks.burst                  # N=32 on a GPT-2-124M-shaped model
    python -m benchmarks.burst --n 64 --device cuda

N concurrent requests, a mix of greedy, sampling, 5-beam and contrastive search, 50 new
tokens each (EOS disabled so every request does the same work), on a random-weight model with
GPT-2 small's shape (12 layers, 768 wide, 50257 tokens; the weights do not change the cost).
The baseline runs the same requests one after another through transformers' `generate()`.
transformers 5 has no built-in contrastive search, so its baseline is this project's own
single-request implementation, which follows `generate()`'s one-request loop.
Latency is measured from the moment the burst arrives, for both.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from model_runner.decoding.contrastive import contrastive_search
from model_runner.decoding.run import stepper_for
from model_runner.engine.engine import DecodeEngine, DecodeJob
from model_runner.protocol import DecodingParams

MIX = [
    {"method": "greedy"},
    {"method": "sampling", "seed": 1, "top_k": 50},
    {"method": "beam", "num_beams": 5},
    {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 4},
]


def build_model(size: str, device: torch.device) -> GPT2LMHeadModel:
    """Random weights, GPT-2 small's shape (or a tiny one for a quick smoke run)."""
    if size == "gpt2":
        config = GPT2Config()
    else:
        config = GPT2Config(
            n_layer=2, n_head=2, n_embd=64, vocab_size=512, bos_token_id=0, eos_token_id=0
        )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).to(device).eval()
    if device.type == "cuda":
        model = model.half()
    return model


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


def run_engine(model, device, burst) -> tuple[float, list[float], int]:
    engine = DecodeEngine(model, device, queue_size=len(burst) + 1, max_rows=512)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    start = time.perf_counter()
    jobs = [DecodeJob(prompt, stepper_for(params, None, 0, device)) for prompt, params in burst]
    done_at: dict[int, float] = {}
    for i, job in enumerate(jobs):
        job.future.add_done_callback(lambda _f, i=i: done_at.__setitem__(i, time.perf_counter()))
        engine.submit(job)
    for job in jobs:
        job.future.result()
    total = time.perf_counter() - start
    engine.stop()
    thread.join()
    return total, [done_at[i] - start for i in range(len(jobs))], engine.steps


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=50)
    parser.add_argument("--model", choices=["gpt2", "tiny"], default="gpt2")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    model = build_model(args.model, device)
    burst = requests(args.n, model.config.vocab_size, args.new_tokens)
    hf_generate(model, burst[0][0], burst[0][1])  # warm-up
    engine_s, engine_lat, steps = run_engine(model, device, burst)
    base_s, base_lat = run_baseline(model, burst)
    tokens = args.n * args.new_tokens
    print(
        f"model {args.model} on {device} ({torch.get_num_threads()} threads), "
        f"{args.n} requests x {args.new_tokens} new tokens, mix {[m['method'] for m in MIX]}"
    )
    print(f"{'':>22} {'total s':>8} {'tok/s':>8} {'p50 s':>7} {'p95 s':>7}")
    for name, total, lat in (
        ("sequential generate()", base_s, base_lat),
        ("batching engine", engine_s, engine_lat),
    ):
        print(
            f"{name:>22} {total:8.2f} {tokens / total:8.1f} {percentile(lat, 0.5):7.2f} "
            f"{percentile(lat, 0.95):7.2f}"
        )
    print(
        f"throughput ratio: {base_s / engine_s:.1f}x   "
        f"p95 latency ratio: {percentile(base_lat, 0.95) / percentile(engine_lat, 0.95):.1f}x"
        f"   engine steps: {steps}   mean: {statistics.mean(engine_lat):.2f} s"
    )


if __name__ == "__main__":
    main()
