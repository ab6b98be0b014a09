"""A group's fine-tune: this project's LoRA trainer versus the plain Hugging Face Trainer,
and what the rest of the class waits for a generation while a group trains.

    python -m benchmarks.finetune                   # GPT-2-124M shape, 30 sentences x 5 epochs
    python -m benchmarks.finetune --device cuda

Both trainers fine-tune the same random-weight model with GPT-2 small's shape (12 layers,
768 wide, 50257 tokens) on the 30 sentences of the built-in recipes example for 5 epochs, with
the same LoRA configuration (rank 8 on GPT-2's attention projection), batch size 8 and AdamW.
Times exclude building the model, as a loaded runner would have it already; the project's time
includes copying the base model (it never trains the shared one in place).

The second part submits greedy requests (20 new tokens) to the batching engine one after
another, first with nothing else running, then while a fine-tune trains between decode steps.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

from benchmarks.burst import build_model
from bot.exts.finetune._examples import load_examples
from model_runner.decoding.run import stepper_for
from model_runner.engine.engine import BackgroundWork, DecodeEngine, DecodeJob
from model_runner.finetune.trainer import TrainingProgress, train_steps
from model_runner.protocol import DecodingParams, FineTuneParams
from model_runner.tiny import build_tokenizer


class FoldedTokenizer:
    """A real tokenizer whose ids are folded into the benchmark model's vocabulary: the cost of
    training depends on how many tokens a sentence has, so English needs an English tokenizer
    (the random test tokenizer splits it into about 2.3 times as many tokens as GPT-2's)."""

    def __init__(self, tokenizer, vocab_size: int) -> None:
        self._tokenizer, self._vocab = tokenizer, vocab_size

    def __call__(self, *args, **kwargs):
        encoded = self._tokenizer(*args, **kwargs)
        ids = encoded["input_ids"]
        if isinstance(ids, torch.Tensor):
            encoded["input_ids"] = ids % self._vocab
        elif ids and isinstance(ids[0], list):
            encoded["input_ids"] = [[i % self._vocab for i in row] for row in ids]
        else:
            encoded["input_ids"] = [i % self._vocab for i in ids]
        return encoded

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


def english_tokenizer(path: str | None, vocab_size: int):
    """The offline Gemma tokenizer (about as many tokens per English word as GPT-2's) when its
    converted copy is cached, else the test tokenizer (and a warning)."""
    from pathlib import Path

    from transformers import AutoTokenizer

    candidates = [Path(path)] if path else [Path("data/models/gemma-offline")]
    for candidate in candidates:
        if (candidate / "tokenizer.json").is_file():
            return FoldedTokenizer(AutoTokenizer.from_pretrained(str(candidate)), vocab_size), str(
                candidate
            )
    print("warning: no English tokenizer found (--tokenizer DIR); token counts are inflated")
    return build_tokenizer(), "test tokenizer"


def ours(model, tokenizer, sentences, params) -> tuple[float, list[float]]:
    progress = TrainingProgress()
    start = time.perf_counter()
    for _ in train_steps(model, tokenizer, sentences, params, progress):
        pass
    return time.perf_counter() - start, progress.losses


class _Rows(torch.utils.data.Dataset):
    def __init__(self, encoded):
        self.encoded = encoded

    def __len__(self):
        return len(self.encoded)

    def __getitem__(self, i):
        return self.encoded[i]


def baseline(model, tokenizer, sentences, params, out_dir) -> tuple[float, float]:
    """peft + transformers.Trainer, the way a notebook would do it."""
    start = time.perf_counter()
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=params.rank, lora_alpha=2 * params.rank, lora_dropout=0.05, task_type="CAUSAL_LM"
        ),
    )
    eos = tokenizer.eos_token or ""
    rows = _Rows(
        [tokenizer(s + eos, truncation=True, max_length=params.max_length) for s in sentences]
    )
    args = TrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.01,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=params.seed,
    )
    trainer = Trainer(
        model=peft_model,
        args=args,
        train_dataset=rows,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    result = trainer.train()
    return time.perf_counter() - start, result.training_loss


def latencies(model, device, tokenizer, n: int, background=None) -> list[float]:
    """Seconds for each of n greedy requests sent one after another to the engine."""
    engine = DecodeEngine(model, device, queue_size=8, max_rows=64)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    if background is not None:
        engine.run_in_background(BackgroundWork(background))
    prompt = tokenizer("Stir the onions until")["input_ids"]
    params = DecodingParams(max_new_tokens=20)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        job = DecodeJob(prompt, stepper_for(params, None, 0, device))
        engine.submit(job).result()
        out.append(time.perf_counter() - start)
    engine.stop()
    thread.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["gpt2", "tiny"], default="gpt2")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="/tmp/labbot-finetune-bench")
    parser.add_argument(
        "--tokenizer",
        help="a tokenizer folder (default: data/models/gemma-offline, which "
        "`labbot playground --model gemma-offline` creates)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    model = build_model(args.model, device).float()
    tokenizer, source = english_tokenizer(args.tokenizer, model.config.vocab_size)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    sentences = list(load_examples()["recipes"].sentences)
    params = FineTuneParams(epochs=args.epochs)
    tokens = sum(len(tokenizer(s)["input_ids"]) for s in sentences)
    print(
        f"model {args.model} on {device} ({torch.get_num_threads()} threads), "
        f"{len(sentences)} sentences ({tokens} tokens, {source}) x {args.epochs} epochs, "
        f"batch {params.batch_size}, LoRA rank {params.rank}"
    )
    ours(model, tokenizer, sentences[:8], FineTuneParams(epochs=1))  # warm-up
    ours_s, losses = ours(model, tokenizer, sentences, params)
    import copy

    base_s, base_loss = baseline(copy.deepcopy(model), tokenizer, sentences, params, args.out)
    print(f"{'':>28} {'seconds':>8}")
    print(f"{'transformers Trainer + peft':>28} {base_s:8.2f}   mean loss {base_loss:.3f}")
    print(
        f"{'labbot trainer':>28} {ours_s:8.2f}   loss {losses[0]:.3f} -> {losses[-1]:.3f} "
        f"in {len(losses)} steps"
    )
    print(f"speed ratio (Trainer / labbot): {base_s / ours_s:.2f}x")

    idle = latencies(model, device, tokenizer, args.requests)
    progress = TrainingProgress()
    busy = latencies(
        model,
        device,
        tokenizer,
        args.requests,
        background=train_steps(model, tokenizer, sentences, params, progress),
    )
    print(
        f"greedy 20-token request, {args.requests} one after another: idle median "
        f"{statistics.median(idle):.2f} s (max {max(idle):.2f}); while a group trains median "
        f"{statistics.median(busy):.2f} s (max {max(busy):.2f}), "
        f"{statistics.median(busy) / statistics.median(idle):.1f}x; the fine-tune reached step "
        f"{progress.step}/{progress.total_steps} meanwhile"
    )


if __name__ == "__main__":
    main()
