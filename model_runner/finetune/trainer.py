"""One LoRA fine-tune, run a step at a time so that decoding keeps going in between.

LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models") freezes the
pre-trained weights W and learns a low-rank update B·A (rank r) for chosen layers, so a group's
fine-tune is a few hundred kilobytes saved in peft's standard format. The trainer works on a
private copy of the base model: the shared model that serves the class is never touched.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model

from model_runner.finetune.evaluation import (
    Evaluation,
    held_out_count,
    split_held_out,
    weight_counts,
)
from model_runner.finetune.precision import autocast
from model_runner.protocol import FineTuneParams, FineTuneStatus

INFINITE_LOSS = "the loss became infinite: try a smaller learning_rate"


@dataclass
class TrainingProgress:
    """Where a fine-tune stands; updated by the worker, read by anyone."""

    step: int = 0
    total_steps: int = 0
    losses: list[float] = field(default_factory=list)  # mean loss of each step
    started: float | None = None
    evaluation: Evaluation = field(default_factory=Evaluation)

    def record(self, loss: float) -> None:
        """Count an optimiser step and its loss; a loss that is not finite (infinite or NaN)
        ends the run with a FloatingPointError."""
        self.step += 1
        self.losses.append(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(INFINITE_LOSS)

    def eta_s(self) -> float | None:
        """Seconds left, from the pace so far."""
        if not self.started or not self.step:
            return None
        per_step = (time.perf_counter() - self.started) / self.step
        return per_step * (self.total_steps - self.step)


def mini_batches(tokenizer, sentences: list[str], params: FineTuneParams, device) -> list[dict]:
    """Shuffled mini-batches for every epoch: input ids, mask, labels (-100 on padding).

    Padding goes on the right whatever the tokenizer's own side, so every sentence's tokens
    keep positions 0, 1, 2 ... (and a batch padded further, as a cohort does, is unchanged).

    Sentences of similar length share a batch (lengths rounded to 4 tokens, shuffled within
    that), and the batches come in random order: padding is compute spent on nothing, and on a
    CPU this makes a run about a fifth faster.
    """
    eos = tokenizer.eos_token or ""
    generator = torch.Generator().manual_seed(params.seed)
    lengths = [len(ids) for ids in tokenizer([s + eos for s in sentences])["input_ids"]]
    batches = []
    for _ in range(params.epochs):
        shuffled = torch.randperm(len(sentences), generator=generator).tolist()
        by_length = sorted(shuffled, key=lambda i: min(lengths[i], params.max_length) // 4)
        groups = [
            by_length[start : start + params.batch_size]
            for start in range(0, len(by_length), params.batch_size)
        ]
        for n in torch.randperm(len(groups), generator=generator).tolist():
            texts = [sentences[i] + eos for i in groups[n]]
            encoded = tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=params.max_length,
                padding_side="right",
                return_tensors="pt",
            )
            labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
            batches.append(
                {
                    "input_ids": encoded["input_ids"].to(device),
                    "attention_mask": encoded["attention_mask"].to(device),
                    "labels": labels.to(device),
                }
            )
    return batches


def lora_config(params: FineTuneParams) -> LoraConfig:
    """The LoRA set-up of every fine-tune: rank r, alpha 2r, a little dropout."""
    return LoraConfig(
        r=params.rank, lora_alpha=2 * params.rank, lora_dropout=0.05, task_type="CAUSAL_LM"
    )


def clean_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A private copy of the base model, without any LoRA adapters the runner has loaded."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        return copy.deepcopy(model).unload()  # unload() drops the injected LoRA layers
    return copy.deepcopy(model)


def train_steps(
    base_model: torch.nn.Module,
    tokenizer,
    sentences: list[str],
    params: FineTuneParams,
    progress: TrainingProgress,
    *,
    private_copy: bool = True,
    precision: torch.dtype | None = None,
) -> Iterator[torch.nn.Module]:
    """Yield after every optimiser step; the last yield is the trained peft model.

    Trains a private copy of `base_model` (the one that serves the class stays as it is),
    or, with `private_copy=False`, `base_model` itself (a process that loaded it to train).
    `precision` bfloat16 runs the passes under autocast (see precision.py).
    """
    torch.manual_seed(params.seed)
    model = (clean_copy(base_model) if private_copy else base_model).float()  # fp32 training
    model = get_peft_model(model, lora_config(params))
    model.train()
    device = next(model.parameters()).device
    kept, held = split_held_out(sentences, params)
    batches = mini_batches(tokenizer, kept, params, device)
    evaluation = progress.evaluation = Evaluation(held_out=held)
    evaluation.trained_weights, evaluation.total_weights = weight_counts(model)
    evaluation.steps_per_epoch = len(batches) // params.epochs
    evaluation.before(model, tokenizer, lambda rows: None, params.max_length)
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=params.learning_rate
    )
    progress.total_steps = len(batches)
    progress.started = time.perf_counter()
    for batch in batches:
        with torch.enable_grad():
            with autocast(precision, device)():
                loss = model(**batch).loss
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
        progress.record(float(loss.detach()))
        if evaluation.epoch_ended(progress.step):
            evaluation.after_epoch(model, tokenizer, lambda rows: None, params.max_length)
        yield model
    evaluation.after(model, tokenizer, lambda rows: None)
    model.eval()
    yield model


def steps_of(sentences: list[str], params: FineTuneParams) -> int:
    """How many optimiser steps a fine-tune of `sentences` takes (held-out ones not trained)."""
    trained = len(sentences) - held_out_count(len(sentences), params.held_out)
    return params.epochs * math.ceil(trained / params.batch_size)


def progress_status(
    job_id: str,
    adapter: str,
    status: str,
    progress: TrainingProgress,
    error: str,
    *,
    starts_in_s: float | None = None,
    together: int = 0,
    eta_s: float | None = None,
) -> FineTuneStatus:
    """A job's status as its owner sees it (`eta_s`: the trainer's own estimate, if any)."""
    return FineTuneStatus(
        job_id=job_id,
        adapter=adapter,
        status=status,
        step=progress.step,
        total_steps=progress.total_steps,
        losses=list(progress.losses),
        eta_s=(eta_s if eta_s is not None else progress.eta_s()) if status == "running" else None,
        error=error,
        starts_in_s=None if starts_in_s is None else round(starts_in_s, 1),
        together=together,
        **progress.evaluation.summary(),
    )


def training_record(
    adapter: str,
    base_model: str,
    sentences: list[str],
    params: FineTuneParams,
    losses: list,
    evaluation: Evaluation | None = None,
) -> dict:
    """What `training.json` says of an adapter: what it was trained on, and how (the held-out
    sentences were in the pool but not trained on)."""
    return {
        "adapter": adapter,
        "base_model": base_model,
        "sentences": sentences,
        "params": params.to_dict(),
        "losses": list(losses),
        **(evaluation.summary() if evaluation else {}),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def save_adapter(model, path: Path, record: dict) -> None:
    """peft's standard files plus `training.json`: what it was trained on, and how.

    Written beside the store and moved into place in one rename, so a runner reading the
    store (this one, or another replica) sees the whole adapter or none of it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        model.save_pretrained(str(partial))
        (partial / "training.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(partial, path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
