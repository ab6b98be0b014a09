"""What a group reads while its fine-tune waits or trains beside other groups' fine-tunes."""

from __future__ import annotations

from bot.exts.finetune._follow import _progress, duration
from model_runner.protocol import FineTuneStatus


def status(**fields) -> FineTuneStatus:
    return FineTuneStatus(job_id="g1-v1", adapter="g1-v1", **fields)


def test_a_run_training_beside_others_says_so_with_a_readable_time_left():
    text = _progress(
        "Group 1 v1",
        status(status="running", step=6, total_steps=10, losses=[2.5], eta_s=150, together=4),
    )
    assert "step 6/10" in text and "about 2 min left" in text
    assert "training together with 3 other fine-tunes" in text
    alone = _progress("Group 1 v1", status(status="running", step=1, total_steps=10, together=1))
    assert "together" not in alone


def test_a_queued_run_says_when_it_should_start():
    soon = _progress("Group 1 v1", status(status="queued", starts_in_s=200))
    assert "is queued" in soon and "starts in about 3 min" in soon
    assert "one at a time" not in soon
    unknown = _progress("Group 1 v1", status(status="queued"))
    assert "starts when one of them finishes" in unknown and "all its places" in unknown
    moment = _progress("Group 1 v1", status(status="queued", starts_in_s=0))
    assert "starts in a moment" in moment and "places" not in moment


def test_durations_read_as_a_person_would_say_them():
    assert [duration(s) for s in (0.2, 45, 89, 150, 3599, 4200)] == [
        "1 s",
        "45 s",
        "89 s",
        "2 min",
        "1 h",
        "1 h 10 min",
    ]
