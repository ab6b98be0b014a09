"""What a fine-tune did besides lowering its training loss, measured while it trains.

- Overfitting: a few of the group's sentences are held out of training (chosen from the seed,
  so a run is reproducible) and their loss is measured before training and after every epoch.
  Training loss keeps falling while the model memorises; held-out loss falls while it learns
  the pattern and rises once it starts memorising the training sentences instead.
- Forgetting: the loss on a fixed passage of general text, before and after. A fine-tune that
  makes the model worse at ordinary text has made it forget (catastrophic forgetting).
- Size: how many weights LoRA trained, against the model's total.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from model_runner.protocol import FineTuneParams

# Ordinary prose about nothing the lab's datasets are about (written for this project).
GENERAL_TEXT = (
    "The library opens at nine in the morning and closes at six in the evening. On Saturdays "
    "it stays open until noon, and on public holidays it is closed. Members may borrow up to "
    "ten books at a time for three weeks. A book that nobody else has reserved can be renewed "
    "twice, online or at the front desk. The reading room on the second floor is kept quiet, "
    "and the café next to the entrance sells tea, coffee and sandwiches."
)


def held_out_count(sentences: int, requested: int | None) -> int:
    """How many sentences to hold out: as requested, else one in ten (at least 2 once there
    are 10 sentences, none below that); training always keeps at least one."""
    if requested is None:
        requested = max(2, round(sentences / 10)) if sentences >= 10 else 0
    return max(0, min(requested, sentences - 1))


def split_held_out(sentences: list[str], params: FineTuneParams) -> tuple[list[str], list[str]]:
    """(training sentences, held-out sentences), both in the pool's order; which ones are
    held out depends only on the seed and the pool."""
    count = held_out_count(len(sentences), params.held_out)
    if not count:
        return list(sentences), []
    generator = torch.Generator().manual_seed(params.seed + 7919)
    chosen = set(torch.randperm(len(sentences), generator=generator)[:count].tolist())
    kept = [s for n, s in enumerate(sentences) if n not in chosen]
    held = [s for n, s in enumerate(sentences) if n in chosen]
    return kept, held


@torch.no_grad()
def text_loss(
    model: torch.nn.Module,
    tokenizer,
    texts: list[str],
    *,
    max_length: int = 256,
    route: Callable[[int], None] = lambda rows: None,
) -> float:
    """Mean next-token loss over all tokens of `texts` (each ended with the end of text, as in
    training); `route(rows)` is told the batch's row count first (a cohort routes the rows to
    one adapter). The model is put in eval mode for it and back in its mode after."""
    eos = tokenizer.eos_token or ""
    encoded = tokenizer(
        [text + eos for text in texts],
        padding=True,
        truncation=True,
        max_length=max_length,
        padding_side="right",
        return_tensors="pt",
    )
    device = next(model.parameters()).device
    ids = encoded["input_ids"].to(device)
    mask = encoded["attention_mask"].to(device)
    labels = ids.masked_fill(mask == 0, -100)
    training = model.training
    model.eval()
    try:
        route(ids.shape[0])
        logits = model(input_ids=ids, attention_mask=mask).logits
    finally:
        model.train(training)
    losses = F.cross_entropy(
        logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
    )
    return float(losses)


def weight_counts(model: torch.nn.Module, adapter_marker: str = "") -> tuple[int, int]:
    """(weights LoRA trains for one adapter, the base model's weights): LoRA's share."""
    trained = total = 0
    for name, parameter in model.named_parameters():
        if "lora_" in name:
            if adapter_marker in name:
                trained += parameter.numel()
        else:
            total += parameter.numel()
    return trained, total


@dataclass
class Evaluation:
    """A run's measurements beyond the training loss."""

    held_out: list[str] = field(default_factory=list)
    held_out_losses: list[float] = field(default_factory=list)  # before, then after each epoch
    general_losses: list[float] = field(default_factory=list)  # before and after
    trained_weights: int = 0
    total_weights: int = 0
    steps_per_epoch: int = 0

    def before(self, model, tokenizer, route: Callable[[int], None], max_length: int) -> None:
        """Measure before the first step (the adapter adds nothing yet: the base model)."""
        self.general_losses = [text_loss(model, tokenizer, [GENERAL_TEXT], route=route)]
        self.held_out_losses = []
        self.after_epoch(model, tokenizer, route, max_length)

    def after_epoch(self, model, tokenizer, route: Callable[[int], None], max_length: int):
        if self.held_out:
            loss = text_loss(model, tokenizer, self.held_out, max_length=max_length, route=route)
            self.held_out_losses.append(loss)

    def after(self, model, tokenizer, route: Callable[[int], None]) -> None:
        self.general_losses.append(text_loss(model, tokenizer, [GENERAL_TEXT], route=route))

    def epoch_ended(self, step: int) -> bool:
        return bool(self.steps_per_epoch) and step % self.steps_per_epoch == 0

    def summary(self) -> dict:
        """The fields a job's status and training record carry."""
        return {
            "held_out": list(self.held_out),
            "held_out_losses": [round(x, 4) for x in self.held_out_losses if math.isfinite(x)],
            "general_losses": [round(x, 4) for x in self.general_losses if math.isfinite(x)],
            "trained_weights": self.trained_weights,
            "total_weights": self.total_weights,
            "steps_per_epoch": self.steps_per_epoch,
        }
