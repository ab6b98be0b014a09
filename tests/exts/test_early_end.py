"""A continuation the model itself ended early says why, in the lab's words."""

from __future__ import annotations

from bot.exts.sampling._render import early_end, generate_reply
from model_runner.protocol import GenerateResult

EOS = 0


def result(tokens: list[int], reason: str, adapter: str | None, least: int = 0):
    return GenerateResult(
        prompt="Tell me about your day.",
        method="greedy",
        text="",
        token_ids=tokens,
        finish_reason=reason,
        params={"max_new_tokens": 30, "no_repeat_ngram_size": 0, "min_new_tokens": least},
        adapter=adapter,
        queue_ms=0,
        compute_ms=1,
        energy_wh=0,
        model="tiny",
    )


def test_a_fine_tuned_model_that_stops_at_once_is_explained():
    why = early_end(result([EOS], "eos", "g1-v1"))
    assert "after 0 tokens" in why and "Every training sentence ended" in why
    assert "min_tokens" in why and "this run: 0" in why
    embed, _ = generate_reply(result([EOS], "eos", "g1-v1"), "Fine-tuned v1")
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Why it stopped"] == why
    assert "*(no new text)*" in embed.description


def test_the_explanation_counts_what_was_written_before_the_end():
    assert "after 1 token." in early_end(result([5, EOS], "eos", "g1-v1"))
    assert "after 6 tokens" in early_end(result([5] * 6 + [EOS], "eos", "g1-v1", least=5))
    pretrained = early_end(result([5, 6, EOS], "eos", None))
    assert "after 2 tokens" in pretrained and "training sentence" not in pretrained


def test_long_or_cut_continuations_need_no_explanation():
    assert early_end(result([5] * 10 + [EOS], "eos", "g1-v1")) == ""
    assert early_end(result([5] * 3, "length", "g1-v1")) == ""
    embed, _ = generate_reply(result([5] * 3, "length", None), "Pre-trained")
    assert "Why it stopped" not in [f.name for f in embed.fields]


def test_the_class_aligned_model_is_not_said_to_have_learned_ending_sentences():
    why = early_end(result([EOS], "eos", "g1-class-aligned-v1"))
    assert "judged the text finished" in why and "training sentence" not in why
