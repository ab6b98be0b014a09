"""What a finished fine-tune's message says about overfitting, forgetting and LoRA's size."""

from __future__ import annotations

from bot.exts.finetune._findings import findings, forgetting, lora_share, overfitting
from bot.fine_tuned import held_out_perplexity

HELD = ["a", "b", "c"]


def test_held_out_loss_that_turns_up_is_named_overfitting():
    text = overfitting({"held_out": HELD, "held_out_losses": [3.9, 2.8, 2.1, 2.4, 2.9]})
    assert "3 sentences of the pool were not trained on" in text
    assert "lowest 2.10 after epoch 2" in text and "rose after epoch 2" in text
    assert "overfitting" in text


def test_held_out_loss_still_falling_or_never_better():
    falling = overfitting({"held_out": HELD, "held_out_losses": [3.9, 3.0, 2.5]})
    assert "still falling" in falling and "overfitting" not in falling
    never = overfitting({"held_out": HELD, "held_out_losses": [3.0, 3.2, 3.5]})
    assert "never went below" in never
    none = overfitting({"held_out": [], "held_out_losses": []})
    assert "no sentences" in none


def test_forgetting_reads_the_general_passage_change():
    assert "+10%" in forgetting({"general_losses": [3.0, 3.3]})
    assert "forgot" in forgetting({"general_losses": [3.0, 3.3]})
    assert "about the same" in forgetting({"general_losses": [3.0, 3.01]})
    assert "easier" in forgetting({"general_losses": [3.0, 2.5]})
    assert forgetting({"general_losses": [3.0]}) == ""


def test_lora_share_and_perplexity():
    share = lora_share({"trained_weights": 294912, "total_weights": 124439808})
    assert "294,912 weights trained of the model's 124,439,808 (0.24%)" in share
    assert held_out_perplexity({"held_out_losses": [3.0, 2.0]}) == "20.1 → 7.4"
    assert held_out_perplexity({}) == ""
    assert findings({}) == []  # a run from before these measurements
    assert len(findings({"held_out": HELD, "held_out_losses": [3, 2], "general_losses": [3, 3]}))
