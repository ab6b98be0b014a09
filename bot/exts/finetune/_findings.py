"""What a finished fine-tune showed besides its training loss, in the lab's words.

The runner measures it (model_runner/finetune/evaluation.py): the loss of sentences held out
of training, before and after every epoch (overfitting), the loss on a general passage before
and after (forgetting), and how many weights LoRA trained. Kept with the run's record, shown
when it finishes, in /finetune models and in the group's fine-tune tables.
"""

from __future__ import annotations

from bot.formatting import counted
from model_runner.protocol import FineTuneStatus

FIELDS = (
    "held_out",
    "held_out_losses",
    "general_losses",
    "trained_weights",
    "total_weights",
    "steps_per_epoch",
)
CHANGE_NOTICED = 0.02  # a general-text loss this much (2%) higher or lower is a change


def results_of(status: FineTuneStatus) -> dict:
    """The measurements a finished run's status carries, as the bot keeps them."""
    return {name: getattr(status, name) for name in FIELDS}


def overfitting(results: dict) -> str:
    """When held-out loss stopped falling, if it did."""
    held, losses = results.get("held_out") or [], results.get("held_out_losses") or []
    if not held or len(losses) < 2:
        return (
            "**Held out:** no sentences (a pool under 10 sentences trains on all of them), so "
            "overfitting cannot be seen here."
        )
    lowest = min(range(len(losses)), key=lambda n: losses[n])
    head = (
        f"**Held out:** {counted(len(held), 'sentence')} of the pool were not trained on. "
        f"Their loss: {losses[0]:.2f} before"
    )
    if lowest == 0:
        return (
            f"{head}, {losses[-1]:.2f} at the end: it never went below where it started, so "
            "what the model learned did not carry over to sentences it had not seen."
        )
    if lowest < len(losses) - 1:
        return (
            f"{head}, lowest {losses[lowest]:.2f} after epoch {lowest}, {losses[-1]:.2f} at the "
            f"end. It rose after epoch {lowest} while the training loss kept falling: the model "
            "began to memorise its training sentences instead of learning their pattern "
            "(overfitting). Fewer epochs would have stopped near the best point."
        )
    return (
        f"{head}, {losses[-1]:.2f} at the end, still falling: the model learned a pattern that "
        "carries over to sentences it had not seen, and more epochs might help further."
    )


def forgetting(results: dict) -> str:
    """How the loss on ordinary text changed (catastrophic forgetting)."""
    losses = results.get("general_losses") or []
    if len(losses) < 2:
        return ""
    before, after = losses[0], losses[-1]
    change = (after - before) / before if before else 0.0
    if change > CHANGE_NOTICED:
        verdict = (
            f"{change:+.0%}: the model got worse at ordinary text; it forgot some of what it "
            "knew (catastrophic forgetting, here in a mild form)."
        )
    elif change < -CHANGE_NOTICED:
        verdict = f"{change:+.0%}: ordinary text got easier for it, too."
    else:
        verdict = "about the same: fine-tuning changed little of what it knew."
    return (
        f"**Forgetting:** loss on a general passage (about a library's opening hours) "
        f"{before:.2f} → {after:.2f}, {verdict}"
    )


def lora_share(results: dict) -> str:
    trained, total = results.get("trained_weights") or 0, results.get("total_weights") or 0
    if not trained or not total:
        return ""
    return (
        f"**LoRA's size:** {trained:,} weights trained of the model's {total:,} "
        f"({trained / total:.2%}); the rest of the model is untouched."
    )


def findings(results: dict) -> list[str]:
    """Overfitting, forgetting and LoRA's share, one line each (empty where not measured)."""
    if not results.get("held_out_losses") and not results.get("general_losses"):
        return []
    return [
        line for line in (overfitting(results), forgetting(results), lora_share(results)) if line
    ]
