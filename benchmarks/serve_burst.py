"""The class-sized burst over HTTP: `labbot runner` against the same runner on Ray Serve.

    python -m benchmarks.serve_burst                    # GPT-2-small-shaped, 1 Serve replica
    python -m benchmarks.serve_burst --replicas 2 --model tiny

The same N concurrent requests as `benchmarks.burst` (greedy, sampling, 5-beam, contrastive;
`--new-tokens` each, text prompts of 8-24 words) go through the bot's own HTTP client, first
to `labbot runner` started as its own process, then to `labbot serve`'s application on a Ray
started here, one after the other so they never share the cores. Each target gets a warm-up
burst first. Printed: requests/s, p50 and p95 latency from the moment the burst is sent, and
Serve's figures as ratios of the plain runner's: the cost (or gain) of the extra hop.
The model has random weights with GPT-2 small's shape, saved to a local directory that both
load the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from benchmarks.burst import MIX, percentile
from model_runner.client import HttpRunnerClient
from model_runner.protocol import DecodingParams, Generate, Info
from model_runner.tiny import build_tokenizer

WORDS = [
    "the",
    "class",
    "asks",
    "the",
    "model",
    "to",
    "continue",
    "a",
    "sentence",
    "about",
    "cooking",
    "rivers",
    "music",
    "and",
    "robots",
    "while",
    "a",
    "group",
    "compares",
    "greedy",
    "beam",
    "contrastive",
    "and",
    "sampled",
    "text",
    "side",
    "by",
    "side",
]


def save_model(folder: Path, size: str) -> None:
    """Random weights (GPT-2 small's shape, or a tiny one) and a small trained tokenizer."""
    tokenizer = build_tokenizer()
    if size == "gpt2":
        config = GPT2Config(bos_token_id=0, eos_token_id=0)
    else:
        config = GPT2Config(
            n_layer=2, n_head=2, n_embd=64, vocab_size=512, bos_token_id=0, eos_token_id=0
        )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def burst(n: int, new_tokens: int) -> list[Generate]:
    out = []
    for i in range(n):
        prompt = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(8 + i % 17))
        out.append(Generate(prompt, DecodingParams(max_new_tokens=new_tokens, **MIX[i % 4])))
    return out


async def fire(url: str, requests: list[Generate]) -> tuple[float, list[float]]:
    """Send every request at once; (wall seconds, each request's latency)."""
    client = HttpRunnerClient(url, timeout_s=1800)
    try:
        deadline = time.monotonic() + 600
        while (await client.call(Info())).status != "ready":
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} never became ready")
            await asyncio.sleep(0.5)
        start = time.perf_counter()

        async def one(request: Generate) -> float:
            await client.call(request)
            return time.perf_counter() - start

        latencies = await asyncio.gather(*(one(r) for r in requests))
        return time.perf_counter() - start, list(latencies)
    finally:
        await client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen) -> None:
    import urllib.request

    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit("labbot runner exited")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("labbot runner never answered")


def measure(url: str, args) -> tuple[float, list[float]]:
    asyncio.run(fire(url, burst(4, args.new_tokens)))  # warm-up
    return asyncio.run(fire(url, burst(args.n, args.new_tokens)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="concurrent requests")
    parser.add_argument("--new-tokens", type=int, default=50)
    parser.add_argument("--model", choices=["gpt2", "tiny"], default="gpt2")
    parser.add_argument("--replicas", type=int, default=1, help="Ray Serve replicas")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve-burst-"))
    model_dir = work / "model"
    save_model(model_dir, args.model)
    results = {}

    port = free_port()
    env = {**os.environ, "LABBOT_DEVICE": "cpu", "LABBOT_MAX_NEW_TOKENS": str(args.new_tokens)}
    runner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "runner",
            "--port",
            str(port),
            "--model",
            str(model_dir),
            "--data-dir",
            str(work / "plain"),
        ],
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, runner)
        results["labbot runner"] = measure(url, args)
    finally:
        runner.terminate()
        runner.wait(30)

    import ray
    from ray import serve

    from model_runner.serve import application

    ray.init(
        num_cpus=max(os.cpu_count() or 1, args.replicas + 1),
        include_dashboard=False,
        log_to_driver=False,
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    config = {
        "model": str(model_dir),
        "device": "cpu",
        "data_dir": work / "serve",
        "max_new_tokens": args.new_tokens,
    }
    cpus = max(1, (os.cpu_count() or 1) // args.replicas)  # as `labbot serve` gives them
    app = application(config, replicas=args.replicas, cpus_per_replica=cpus)
    serve.run(app, name="labbot", route_prefix="/")
    try:
        results[f"Ray Serve x{args.replicas}"] = measure(f"http://127.0.0.1:{port}", args)
    finally:
        serve.shutdown()
        ray.shutdown()

    print(
        f"{args.model}-shaped model on the CPU ({os.cpu_count()} cores), {args.n} requests "
        f"x {args.new_tokens} new tokens, mix {[m['method'] for m in MIX]}"
    )
    print(f"{'':>16} {'req/s':>7} {'p50 s':>7} {'p95 s':>7}")
    for name, (total, lat) in results.items():
        print(
            f"{name:>16} {args.n / total:7.2f} {percentile(lat, 0.5):7.2f} "
            f"{percentile(lat, 0.95):7.2f}"
        )
    (plain_s, plain_lat), (serve_s, serve_lat) = results.values()
    print(
        f"Ray Serve / labbot runner: throughput {plain_s / serve_s:.2f}x, "
        f"p95 latency {percentile(serve_lat, 0.95) / percentile(plain_lat, 0.95):.2f}x"
    )


if __name__ == "__main__":
    main()
