"""A class's fine-tunes at once: N groups trained together (one cohort) against the same N
trained one after another, with the rest of the class decoding meanwhile.

    python -m benchmarks.class_finetune                       # GPT-2-small shape, N = 1, 4, 8
    python -m benchmarks.class_finetune --model gemma-offline # the real offline Gemma 3 270M
    python -m benchmarks.class_finetune --groups 8 --epochs 3 # the class defaults

Each group fine-tunes on 30 sentences of a built-in example (recipes, full-stop, entity-count
in turn), 5 epochs, batch 8, LoRA rank 8, on the decoding engine's worker exactly as the runner
does it: "one after another" trains each group's solo run in turn, as the runner did before
cohorts, "together" puts every group in one cohort. Meanwhile `--students` students
(default 1) each ask for one 20-token greedy generation after another, the worst case for the
fine-tunes (decoding gets as much time as training whenever someone waits); their latency is
reported beside the idle one. `--students 0` measures the fine-tunes alone.
Every configuration runs `--repeat` times; the median is reported. Torch's thread count is
printed; set it with --threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from benchmarks.finetune import english_tokenizer
from bot.exts.finetune._examples import load_examples
from model_runner.decoding.run import stepper_for
from model_runner.engine.engine import BackgroundWork, DecodeEngine, DecodeJob
from model_runner.finetune.cohort import Cohort, Member
from model_runner.finetune.precision import CHOICES, training_dtype
from model_runner.finetune.trainer import TrainingProgress, save_adapter, train_steps
from model_runner.protocol import DecodingParams, FineTuneParams


def load(name: str, device: torch.device, data_dir: Path):
    """The benchmark's model and tokenizer: GPT-2 small's shape with random weights (and an
    English tokenizer when one is cached), or a real model through the runner's loader."""
    if name == "gpt2":
        from benchmarks.burst import build_model

        model = build_model("gpt2", device).float()
        tokenizer, _ = english_tokenizer(None, model.config.vocab_size)
    else:
        from model_runner.loading import load_model

        loaded = load_model(name, device=str(device), data_dir=data_dir)
        model, tokenizer = loaded.model, loaded.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def group_sentences(n: int) -> list[list[str]]:
    examples = list(load_examples().values())
    return [list(examples[i % len(examples)].sentences)[:30] for i in range(n)]


class Class:
    """Students asking for generations, each one after another, while the groups train."""

    def __init__(self, engine: DecodeEngine, tokenizer, device, students: int = 1) -> None:
        self.engine, self.device = engine, device
        self.prompt = tokenizer("Stir the onions until")["input_ids"]
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._ask, daemon=True) for _ in range(students)]

    def _ask(self) -> None:
        params = DecodingParams(max_new_tokens=20)
        while not self._stop.is_set():
            started = time.perf_counter()
            job = DecodeJob(self.prompt, stepper_for(params, None, 0, self.device))
            self.engine.submit(job).result()
            self.latencies.append(time.perf_counter() - started)

    def __enter__(self) -> Class:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def one_after_another(engine, model, tokenizer, groups, params, out: Path, precision=None):
    """Each group's solo run, one after the other as one queue of background work (the runner
    before cohorts); seconds until each group's adapter is saved."""
    started = time.perf_counter()
    finished: list[float] = []

    def queue():
        for n, sentences in enumerate(groups):
            trained = None
            progress = TrainingProgress()
            for trained in train_steps(
                model, tokenizer, sentences, params, progress, precision=precision
            ):
                yield trained  # one optimiser step per slice, as the runner did
            save_adapter(trained, out / f"solo-{n}", {})
            finished.append(time.perf_counter() - started)

    engine.run_in_background(BackgroundWork(queue())).result()
    return finished


def together(engine, model, tokenizer, groups, params, out: Path, precision=None):
    """Every group in one cohort; seconds until each group's adapter is saved."""
    started = time.perf_counter()
    cohort = Cohort(model, tokenizer, max_members=len(groups), precision=precision)
    finished: list[float] = []
    members = []
    for n, sentences in enumerate(groups):
        member = Member(
            job_id=f"g{n}",
            sentences=sentences,
            params=params,
            progress=TrainingProgress(),
            destination=out / f"together-{n}",
            record=lambda losses: {"losses": losses},
        )
        member.future.add_done_callback(lambda _: finished.append(time.perf_counter() - started))
        cohort.join(member)
        members.append(member)
    engine.run_in_background(BackgroundWork(cohort.steps())).result()
    for member in members:
        member.future.result()
    return finished


WAYS = {"one after another": one_after_another, "together": together}


def idle_latency(engine, tokenizer, device, seconds: float = 6.0) -> list[float]:
    with Class(engine, tokenizer, device) as students:
        time.sleep(seconds)
    return students.latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="gpt2", help="gpt2 (random weights) or a model name")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: as set)")
    parser.add_argument(
        "--students", type=int, default=1, help="students generating meanwhile (0: none)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", default="data", help="where converted models are cached")
    parser.add_argument(
        "--precision", choices=CHOICES, default="auto", help="auto: bfloat16 where native"
    )
    parser.add_argument(
        "--ways", nargs="+", default=["one after another", "together"], choices=list(WAYS)
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, tokenizer = load(args.model, device, Path(args.data_dir))
    params = FineTuneParams(epochs=args.epochs)
    precision = training_dtype(args.precision, device)
    engine = DecodeEngine(model, device, queue_size=64, max_rows=64)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    print(
        f"model {args.model} on {device}, {torch.get_num_threads()} torch threads; each group "
        f"30 sentences x {args.epochs} epochs, batch {params.batch_size}, LoRA rank "
        f"{params.rank}, passes in {precision or torch.float32}"
    )
    idle = idle_latency(engine, tokenizer, device)
    print(f"a student's 20-token greedy generation, nothing training: median {_ms(idle)}")
    print(
        f"{'groups':>6} {'way':>17} {'all done s':>10} {'mean done s':>11} "
        f"{'first s':>8} {'generation median / p95':>24}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.groups:
            groups = group_sentences(n)
            totals = {}
            for way in args.ways:
                run = WAYS[way]
                rows = []
                for attempt in range(args.repeat):
                    out = Path(scratch) / f"{way[:3]}-{n}-{attempt}"
                    with Class(engine, tokenizer, device, args.students) as students:
                        finished = run(engine, model, tokenizer, groups, params, out, precision)
                    rows.append((max(finished), statistics.mean(finished), min(finished)))
                    lat = students.latencies
                done, mean, first = (statistics.median(col) for col in zip(*rows, strict=True))
                totals[way] = done
                print(
                    f"{n:>6} {way:>17} {done:10.1f} {mean:11.1f} {first:8.1f} "
                    f"{_ms(lat):>16} / {_ms(lat, 0.95)}"
                )
            if len(totals) == 2:
                ratio = totals["one after another"] / totals["together"]
                print(f"{n:>6} {'':>17} together is {ratio:.2f}x as fast to have every model")
    engine.stop()
    thread.join()


def _ms(values: list[float], q: float = 0.5) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.2f} s"


if __name__ == "__main__":
    main()
