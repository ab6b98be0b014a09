"""/trainstep's reply explains a step whose loss went up (overshooting) and only then."""

from __future__ import annotations

from bot.exts.pretraining._steps import rising_steps, train_step_reply
from model_runner.protocol import TrainStepResult, TrainStepToken


def result(losses: list[float], token_probabilities: list[list[float]]) -> TrainStepResult:
    tokens = [
        TrainStepToken(id=n, display=f"tok{n}", probabilities=p)
        for n, p in enumerate(token_probabilities)
    ]
    return TrainStepResult(
        text="The cat sat",
        tokens=tokens,
        losses=losses,
        steps=len(losses) - 1,
        learning_rate=0.005,
        rank=4,
    )


def fields(embed) -> dict[str, str]:
    return {field.name: field.value for field in embed.fields}


def test_a_step_whose_loss_rose_is_explained_as_overshooting():
    # The numbers of the report: down, down, then up again on the third step.
    losses = [3.94, 2.04, 0.90, 2.20]
    reply, _ = train_step_reply(
        result(losses, [[0.1, 0.3, 0.6, 0.2], [0.2, 0.4, 0.7, 0.05], [0.3, 0.5, 0.9, 0.6]])
    )
    shown = fields(reply)
    assert rising_steps(losses) == [3]
    note = shown["Why the loss went up at step 3"]
    assert "Overshooting" in note and "jumps past the lowest point" in note
    assert "1 token ended less likely" in note and "smaller learning_rate" in note
    assert "0.001" in note  # a fifth of the rate it ran with
    assert "unchanged" in reply.fields[0].value  # the reading of it stays first
    assert "more likely" in shown["Reading it"]


def test_several_rising_steps_are_all_named():
    reply, _ = train_step_reply(result([3.0, 3.5, 2.0, 2.5], [[0.1, 0.2, 0.3, 0.4]]))
    assert "Why the loss went up at steps 1, 3" in fields(reply)


def test_a_loss_that_only_falls_gets_no_overshooting_note():
    reply, _ = train_step_reply(result([3.94, 2.04, 0.90, 0.40], [[0.1, 0.3, 0.6, 0.8]]))
    assert not any(name.startswith("Why the loss went up") for name in fields(reply))
    assert rising_steps([3.0, 3.0]) == []  # a flat step did not rise
