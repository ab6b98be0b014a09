"""Backpropagation made visible: a few gradient steps on one sentence, then thrown away.

The loss is the mean cross-entropy of the sentence's tokens, each given the ones before it
(as in `introspect.loss`). Each step computes its gradient by backpropagation and moves the
weights a little against it (AdamW), so the sentence's tokens usually become more probable;
a learning rate too large for the slope overshoots, and that step's loss goes up. The steps
change only a LoRA adapter (Hu et al., 2021) on a private copy of the model, which is dropped
when the call ends: the shared model that serves the class keeps its weights bit for bit, as
a deployed model's weights stay frozen at inference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from peft import LoraConfig, get_peft_model
from transformers.pytorch_utils import Conv1D

from model_runner.anatomy import check_token_count
from model_runner.finetune.trainer import INFINITE_LOSS, clean_copy
from model_runner.introspect import context_ids, decode_one, display_token
from model_runner.loading import LoadedModel
from model_runner.protocol import InvalidRequest, TrainStepResult, TrainStepToken
from model_runner.protocol.limits import LEARNING_RATE_DEFAULT, STEPS_DEFAULT, TRAIN_STEP_RANK

SEED = 0  # the same sentence and settings give the same curve every time


def throwaway_model(shared: torch.nn.Module, rank: int = TRAIN_STEP_RANK) -> torch.nn.Module:
    """A private fp32 copy of the base model with a fresh LoRA adapter to train."""
    model = clean_copy(shared).float()  # never the shared weights: those stay as they are
    # GPT-2 stores its linear layers transposed (Conv1D); peft must be told, or it warns.
    transposed = any(isinstance(m, Conv1D) for m in model.modules())
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        fan_in_fan_out=transposed,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    model.eval()  # no dropout: each step's loss is the sentence's loss at those weights
    return model


def train_step(
    loaded: LoadedModel,
    text: str,
    steps: int = STEPS_DEFAULT,
    learning_rate: float = LEARNING_RATE_DEFAULT,
    *,
    shared: torch.nn.Module | None = None,
) -> TrainStepResult:
    """Train a throwaway adapter on `text` for `steps` AdamW steps; report the sentence's loss
    and each token's probability before training and after every step (all at once)."""
    with torch.inference_mode(False), torch.enable_grad():
        *_, result = train_step_slices(loaded, text, steps, learning_rate, shared=shared)
    assert isinstance(result, TrainStepResult)
    return result


def train_step_slices(
    loaded: LoadedModel,
    text: str,
    steps: int = STEPS_DEFAULT,
    learning_rate: float = LEARNING_RATE_DEFAULT,
    *,
    shared: torch.nn.Module | None = None,
) -> Iterator[TrainStepResult | None]:
    """`train_step` a slice at a time, as the engine's background work: the private copy in
    one slice, then one gradient step per slice, so the class's decoding goes on in between;
    the last value yielded is the result.

    `shared` is the engine's model when it differs from `loaded.model` (a `PeftModel` once
    adapters are loaded); the copy trained here drops those adapters.
    """
    tokenizer = loaded.tokenizer
    check_token_count(tokenizer, text)
    ids = context_ids(loaded, text)  # a beginning-of-text token, so every token gets a loss
    # The random state is forked so that seeding the LoRA initialisation leaves everyone
    # else's alone; only the initialisation draws random numbers, within this one slice.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = throwaway_model(shared or loaded.model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=learning_rate)
    inputs = torch.tensor([ids], device=loaded.device)  # [1, T]
    targets = inputs[0, 1:]  # [T-1]: token t is predicted from tokens before it
    losses: list[float] = []
    probabilities: list[list[float]] = []  # [steps + 1][T-1]
    yield None  # grad mode: the engine's background slice (or `train_step`) turns it on
    for step in range(steps + 1):
        with torch.set_grad_enabled(step < steps):  # the last pass only measures
            logits = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits
            log_probs = torch.log_softmax(logits[0, :-1].float(), dim=-1)  # [T-1, V]
            token_log_probs = log_probs.gather(1, targets[:, None])[:, 0]  # [T-1]
            loss = -token_log_probs.mean()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise InvalidRequest(INFINITE_LOSS, field="learning_rate")
        probabilities.append(token_log_probs.detach().exp().cpu().tolist())
        if step < steps:
            loss.backward()  # backpropagation: d loss / d (LoRA weights)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            yield None
    del model, optimiser  # the adapter and the copy go with them
    tokens = []
    for position, token_id in enumerate(targets.tolist()):
        piece = decode_one(tokenizer, token_id)
        tokens.append(
            TrainStepToken(
                id=token_id,
                display=display_token(tokenizer, token_id, piece),
                probabilities=[row[position] for row in probabilities],
                text=piece,
            )
        )
    yield TrainStepResult(
        text=text,
        tokens=tokens,
        losses=losses,
        steps=steps,
        learning_rate=learning_rate,
        rank=TRAIN_STEP_RANK,
    )
