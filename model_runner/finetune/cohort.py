"""The class's fine-tunes trained together: one copy of the base model, one LoRA adapter per
group, and every forward/backward pass shared by the groups whose sentences are in it.

When eight groups start a fine-tune in the same minute, training them one after another makes
the last group wait for seven others. Here every group's run joins the cohort at once: each
slice packs the next mini-batch of several groups into one batch, each row goes through its
own group's adapter (peft's per-row adapter routing, the same one decoding uses for mixed
batches), and each group's loss is the mean over its own tokens, so the gradient every adapter
gets is the one it would get training alone. Each group keeps its own AdamW optimiser, epochs,
learning rate, rank and seed; adapters are disjoint, so one optimiser's step never touches
another group's weights. A group joins or leaves (done, cancelled, failed) between two slices.

Each slice packs runs' next batches in the order the runs started, as many as its token
budget holds: on a GPU the budget holds every run (the passes cost little more than one run's),
on a CPU, where a pass costs what its tokens cost, about two, so the first groups get their
models first instead of every group at the end. The budget also bounds how long decoding for
the rest of the class waits behind a slice: once the pace is measured, a slice holds no more
tokens than about `slice_s` seconds of training (always at least one run's batch). More than `max_members` runs wait in order; every
run is told about when it should finish, from the measured pace and the work ahead of it.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer

from model_runner.finetune.evaluation import Evaluation, split_held_out, weight_counts
from model_runner.finetune.precision import autocast
from model_runner.finetune.trainer import (
    INFINITE_LOSS,
    TrainingProgress,
    clean_copy,
    lora_config,
    mini_batches,
)
from model_runner.protocol import FineTuneParams

log = logging.getLogger(__name__)


@dataclass
class Member:
    """One group's run inside the cohort."""

    job_id: str
    sentences: list[str]
    params: FineTuneParams
    progress: TrainingProgress
    destination: Path  # where the trained adapter is saved
    record: Callable[[list[float]], dict]  # training.json's contents, from the losses
    on_start: Callable[[], None] = lambda: None  # it began training
    on_step: Callable[[], None] = lambda: None  # it took an optimiser step
    future: Future = field(default_factory=Future)  # set once saved (or failed, cancelled)
    name: str = ""  # its adapter's name inside the cohort's model
    batches: collections.deque = field(default_factory=collections.deque)
    optimiser: torch.optim.Optimizer | None = None
    trainable: list[torch.nn.Parameter] = field(default_factory=list)


def _padded(batch: dict, length: int, pad_id: int) -> dict:
    """`batch` right-padded to `length` tokens (padding is masked and carries no label)."""
    extra = length - batch["input_ids"].shape[1]
    if extra == 0:
        return batch
    return {
        "input_ids": F.pad(batch["input_ids"], (0, extra), value=pad_id),
        "attention_mask": F.pad(batch["attention_mask"], (0, extra), value=0),
        "labels": F.pad(batch["labels"], (0, extra), value=-100),
    }


def _remaining(member: Member) -> int:
    """Padded tokens still to train in a run's batches."""
    return sum(_tokens(batch) for batch in list(member.batches))


def _tokens(batch: dict) -> int:
    rows, length = batch["input_ids"].shape
    return rows * length


class Cohort:
    """Fine-tunes of one base model trained together; `steps()` is the engine's background
    work (one slice per next()); `join()` may be called from any thread."""

    def __init__(
        self,
        base_model: torch.nn.Module,
        tokenizer: Any,
        *,
        max_members: int = 8,
        slice_tokens: int = 512,
        precision: torch.dtype | None = None,
        slice_s: float = 0.5,
    ) -> None:
        self._base = base_model
        self._tokenizer = tokenizer
        self.max_members = max_members
        self.slice_tokens = slice_tokens  # padded tokens a slice holds at most
        self.slice_s = slice_s  # ...and about how long one may take, once the pace is known
        self.precision = precision  # bfloat16 autocast for the passes, or None (float32)
        self._lock = threading.Lock()
        self._joining: collections.deque[Member] = collections.deque()  # not yet started
        self._members: collections.deque[Member] = collections.deque()  # training, in turn
        self._closed = False
        self._model: PeftModel | None = None
        self._rows: list[str] = []  # each row's adapter in the slice being run
        self._serial = 0
        self.s_per_token = 0.0  # measured cost of one padded token (forward and backward)
        self.tokens_per_s = 0.0  # padded tokens trained per second of wall time, decoding included
        self._slice_started: float | None = None
        self._slice_tokens_done = 0
        self.last_packed = 0  # runs in the last slice

    # --- any thread ----------------------------------------------------------------------

    def join(self, member: Member) -> bool:
        """Add a run; False once the cohort has ended (start a new one then)."""
        with self._lock:
            if self._closed:
                return False
            self._joining.append(member)
            return True

    def size(self) -> int:
        """How many runs train together now."""
        return len(self._members)

    def eta_s(self, member: Member) -> float | None:
        """About how long until `member` is saved: the tokens of the runs ahead of it and its
        own, at the measured pace (None until the pace is known)."""
        if not self.tokens_per_s:
            return None
        members = list(self._members)
        if member not in members:
            return None
        ahead = members[: members.index(member) + 1]
        return sum(_remaining(m) for m in ahead) / self.tokens_per_s

    def starts_in_s(self, member: Member) -> float | None:
        """For a run waiting for a place: about when one frees (None: unknown)."""
        with self._lock:
            waiting = list(self._joining)
        if member not in waiting or len(self._members) < self.max_members:
            return 0.0  # being set up, or it joins at the next slice
        finishing = sorted(eta for m in list(self._members) if (eta := self.eta_s(m)))
        if not finishing:
            return None
        rounds, place = divmod(waiting.index(member), len(finishing))
        return finishing[place] + rounds * finishing[-1]

    def abandon(self, error: BaseException) -> None:
        """The engine dropped the cohort (its thread died): every run fails with `error`."""
        with self._lock:
            self._closed = True
            members = list(self._members) + list(self._joining)
            self._members.clear()
            self._joining.clear()
        for member in members:
            _settle(member.future, error=error)

    # --- the engine's worker thread ------------------------------------------------------

    def steps(self) -> Iterator[None]:
        """One slice per next(): admit waiting runs, train one packed batch, retire the
        finished; ends (and frees the model copy) when no run is left."""
        while True:
            self._admit()
            self._retire_cancelled()
            if not self._members:
                with self._lock:
                    if not self._joining:
                        self._closed = True
                        self._model = None
                        return
                continue
            self._train_slice()
            yield None

    def _admit(self) -> None:
        while len(self._members) < self.max_members:
            with self._lock:
                if not self._joining:
                    return
                member = self._joining.popleft()
            if member.future.cancelled():
                continue
            try:
                self._add(member)
            except Exception as error:  # noqa: BLE001 - that run fails; the others go on
                log.exception("could not start fine-tune %s", member.job_id)
                _settle(member.future, error=error)
                continue
            self._members.append(member)
            member.on_start()

    def _add(self, member: Member) -> None:
        """Give `member` an adapter of its own on the cohort's model, initialised exactly as
        a solo run with its seed would be."""
        params = member.params
        self._serial += 1
        member.name = f"group{self._serial}"
        kept, held = split_held_out(member.sentences, params)
        batches = mini_batches(self._tokenizer, kept, params, self._device())
        member.batches = collections.deque(batches)
        member.progress.total_steps = len(batches)
        evaluation = member.progress.evaluation = Evaluation(held_out=held)
        evaluation.steps_per_epoch = len(batches) // params.epochs
        torch.manual_seed(params.seed)
        config: LoraConfig = lora_config(params)
        if self._model is None:
            model = clean_copy(self._base).float()  # fp32 training, never the shared model
            self._model = get_peft_model(model, config, adapter_name=member.name)
            self._route_rows(self._model)
        else:
            self._model.add_adapter(member.name, config)
            for stale in set(self._model.peft_config) - {m.name for m in self._members}:
                if stale != member.name:  # the last run to leave kept its adapter
                    self._model.delete_adapter(stale)
        self._model.train()
        marker = f".{member.name}."
        member.trainable = [
            p for n, p in self._model.named_parameters() if "lora_" in n and marker in n
        ]
        for parameter in member.trainable:
            parameter.requires_grad_(True)
        member.optimiser = torch.optim.AdamW(member.trainable, lr=params.learning_rate)
        evaluation.trained_weights, evaluation.total_weights = weight_counts(self._model, marker)
        self._evaluate(member, "before")
        member.progress.started = time.perf_counter()

    def _evaluate(self, member: Member, when: str) -> None:
        """Held-out and general-text losses through `member`'s adapter alone (see
        evaluation.py): "before" training, after an "epoch", and "after" the last step."""
        assert self._model is not None
        evaluation = member.progress.evaluation

        def route(rows: int) -> None:
            self._rows = [member.name] * rows

        try:
            if when == "before":
                evaluation.before(self._model, self._tokenizer, route, member.params.max_length)
            elif when == "epoch":
                evaluation.after_epoch(
                    self._model, self._tokenizer, route, member.params.max_length
                )
            else:
                evaluation.after(self._model, self._tokenizer, route)
        finally:
            self._rows = []

    def _device(self) -> torch.device:
        return next(self._base.parameters()).device

    def _route_rows(self, model: PeftModel) -> None:
        """Every LoRA layer reads each row's adapter from `self._rows` (set per slice)."""

        def route(_module, args, kwargs):
            kwargs["adapter_names"] = self._rows
            return args, kwargs

        for module in model.modules():
            if isinstance(module, LoraLayer):
                module.register_forward_pre_hook(route, with_kwargs=True)

    def _retire_cancelled(self) -> None:
        for member in [m for m in self._members if m.future.cancelled()]:
            self._leave(member)

    def _train_slice(self) -> None:
        """Forward and backward the next batch of as many runs as the token budget holds, in
        turn, then step each of their optimisers."""
        assert self._model is not None
        packed: list[tuple[Member, dict]] = []
        budget = self.slice_tokens
        if self.s_per_token:  # a slow model on a CPU: fewer tokens, so decoding waits less
            budget = min(budget, int(self.slice_s / self.s_per_token))
        for member in list(self._members):  # in the order the runs started
            batch = member.batches[0]
            if packed and _tokens(batch) > budget:
                break
            packed.append((member, member.batches.popleft()))
            budget -= _tokens(batch)
        self.last_packed = len(packed)
        length = max(batch["input_ids"].shape[1] for _, batch in packed)
        pad_id = self._tokenizer.pad_token_id or 0
        padded = [_padded(batch, length, pad_id) for _, batch in packed]
        self._rows = [m.name for m, b in packed for _ in range(b["input_ids"].shape[0])]
        started = time.perf_counter()
        try:
            losses = self._losses(packed, padded)
        finally:
            self._rows = []
        self._measure(started, sum(b["input_ids"].shape[0] for b in padded) * length)
        for (member, _), loss in zip(packed, losses, strict=True):
            if member.future.cancelled():
                self._leave(member)
            elif not math.isfinite(loss):
                _settle(member.future, error=FloatingPointError(INFINITE_LOSS))
                self._leave(member)
            else:
                member.progress.record(loss)
                if member.progress.evaluation.epoch_ended(member.progress.step):
                    self._evaluate(member, "epoch")
                member.on_step()
                if not member.batches:
                    self._finish(member)

    def _losses(self, packed: list[tuple[Member, dict]], padded: list[dict]) -> list[float]:
        """Each run's mean next-token loss over its own tokens; the sum of the finite ones is
        backpropagated and each run's optimiser steps on its own adapter's gradient."""
        assert self._model is not None
        input_ids = torch.cat([b["input_ids"] for b in padded])
        mask = torch.cat([b["attention_mask"] for b in padded])
        labels = torch.cat([b["labels"] for b in padded])
        with autocast(self.precision, input_ids.device)():
            logits = self._model(input_ids=input_ids, attention_mask=mask).logits
        per_token = F.cross_entropy(
            logits[:, :-1].float().flatten(0, 1),
            labels[:, 1:].flatten(),
            ignore_index=-100,
            reduction="none",
        ).view(labels.shape[0], -1)
        counted = (labels[:, 1:] != -100).sum(dim=1)
        losses, total, start = [], None, 0
        for (_, batch), _ in zip(packed, padded, strict=True):
            rows = batch["input_ids"].shape[0]
            loss = per_token[start : start + rows].sum() / counted[start : start + rows].sum()
            start += rows
            value = float(loss.detach())
            losses.append(value)
            if math.isfinite(value):
                total = loss if total is None else total + loss
        if total is not None:
            total.backward()
        for (member, _), value in zip(packed, losses, strict=True):
            assert member.optimiser is not None
            if math.isfinite(value):
                member.optimiser.step()
            member.optimiser.zero_grad(set_to_none=True)
        return losses

    def _measure(self, started: float, tokens: int) -> None:
        """The pace: compute per token, and tokens per wall second from one slice's start to
        the next (what decoding takes in between included)."""
        spent = (time.perf_counter() - started) / max(1, tokens)
        self.s_per_token = spent if not self.s_per_token else 0.8 * self.s_per_token + 0.2 * spent
        if self._slice_started is not None:
            wall = started - self._slice_started
            rate = self._slice_tokens_done / wall if wall > 0 else 0.0
            if rate:
                ema = self.tokens_per_s
                self.tokens_per_s = rate if not ema else 0.8 * ema + 0.2 * rate
        self._slice_started, self._slice_tokens_done = started, tokens

    def _finish(self, member: Member) -> None:
        """Save a finished run's adapter, then tell its owner; the adapter leaves the model."""
        try:
            self._evaluate(member, "after")
            self._save(member)
        except Exception as error:  # noqa: BLE001 - reported to that run's owner
            log.exception("could not save fine-tune %s", member.job_id)
            _settle(member.future, error=error)
        else:
            _settle(member.future, result=None)
        self._leave(member)

    def _save(self, member: Member) -> None:
        """peft's standard files plus `training.json`, moved into place in one rename."""
        assert self._model is not None
        self._model.eval()
        path = member.destination
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        try:
            # peft writes an adapter not named "default" into a folder of its name.
            self._model.save_pretrained(str(partial), selected_adapters=[member.name])
            saved = partial / member.name
            record = member.record(list(member.progress.losses))
            (saved / "training.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
            os.replace(saved, path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
            self._model.train()

    def _leave(self, member: Member) -> None:
        if member in self._members:
            self._members.remove(member)
        member.optimiser = None
        member.trainable = []
        member.batches.clear()
        model = self._model
        if model is not None and member.name in model.peft_config and len(model.peft_config) > 1:
            model.delete_adapter(member.name)


def _settle(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    """Finish `future` unless it is already finished (cancelled by its owner meanwhile)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
