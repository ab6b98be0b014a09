"""/step's message and buttons, drawn from a stored step-through: the end of text by name,
each method's reason (once revealed), the path, and what an ended one still offers."""

from __future__ import annotations

from types import SimpleNamespace

from bot.exts.stepthrough._buttons import step_view
from bot.exts.stepthrough._export import to_csv
from bot.exts.stepthrough._render import END_OF_TEXT, explain, step_embed
from bot.exts.stepthrough._steps import candidates_of, max_steps, take
from bot.storage import step_throughs
from bot.storage.database import Database
from bot.storage.step_throughs import Candidate, StepThrough, StepToken
from model_runner.protocol import (
    ScoredCandidate,
    StepPick,
    StepResult,
    TokenProbability,
)

EOS = 0


def step_through(tokens=(), candidates=None, ended=None, **changes) -> StepThrough:
    values = dict(
        id=3,
        guild_id=1,
        group_id=2,
        group_name="Group 1",
        started_by=7,
        prompt="Mix the flour",
        model_label="Pre-trained",
        adapter=None,
        model="tiny",
        max_steps=40,
        end_of_text=EOS,
        text="".join(t.text for t in tokens),
        candidates=candidates if candidates is not None else [Candidate(5, " and", "␣and", 0.3)],
        ended=ended,
        created_at="",
        tokens=list(tokens),
    )
    return StepThrough(**{**values, **changes})


def picked(method: str, pick: StepPick, position: int = 1) -> StepToken:
    return StepToken(
        position, pick.token.id, pick.token.text, pick.token.display,
        pick.token.probability, method, 7, "Ada", pick.to_dict(),
    )  # fmt: skip


CONTRASTIVE = StepPick(
    method="contrastive",
    token=TokenProbability(9, " eggs", "␣eggs", 0.2),
    params={"penalty_alpha": 0.6, "top_k": 2},
    penalty_alpha=0.6,
    scored=[
        ScoredCandidate(5, " and", "␣and", 0.3, 0.9, 0.4 * 0.3 - 0.6 * 0.9),
        ScoredCandidate(9, " eggs", "␣eggs", 0.2, 0.1, 0.4 * 0.2 - 0.6 * 0.1),
    ],
)


def test_the_end_of_text_is_shown_by_name_on_its_button():
    result = StepResult(
        prompt="Mix",
        chosen=[],
        text="",
        candidates=[
            TokenProbability(EOS, "<|endoftext|>", "<|endoftext|>", 0.42),
            TokenProbability(5, " and", "␣and", 0.1),
        ],
        end_of_text=EOS,
    )
    kept = candidates_of(result)
    assert [c.display for c in kept] == [END_OF_TEXT, "␣and"]
    view = step_view(step_through(candidates=kept))
    labels = [item.item.label for item in view.children]
    assert labels == [
        "⏎ end of text · 42.0%",
        "␣and · 10.0%",
        "Greedy",
        "Random Sampling",
        "Contrastive Search",
        "End",
        "Export path",
    ]
    ids = [item.item.custom_id for item in view.children]
    assert ids[:2] == ["step:3:0:t0", "step:3:0:t5"] and ids[-1] == "step:3:0:export"


def test_an_ended_step_through_offers_only_its_export():
    ended = step_through(ended="eos", candidates=[])
    assert [item.item.label for item in step_view(ended).children] == ["Export path"]
    embed = step_embed(ended, set())
    fields = {f.name: f.value for f in embed.fields}
    assert f"{END_OF_TEXT} was chosen" in fields["Finished"]
    assert not embed.description.endswith("▏")


def test_contrastive_lists_each_candidates_probability_penalty_and_score():
    token = picked("contrastive", CONTRASTIVE)
    why = explain(token, EOS, {"contrastive"})
    assert "score = (1 − 0.6) × p − 0.6 × penalty" in why
    table = why.split("```")[1].strip().splitlines()
    assert table[1].split() == ["␣and", "0.3000", "0.900", "-0.4200"]
    assert table[2].split() == ["␣eggs", "0.2000", "0.100", "+0.0200", "◀"]


def test_a_method_says_why_only_once_it_is_revealed():
    token = picked("contrastive", CONTRASTIVE)
    hidden = explain(token, EOS, {"greedy"})
    assert "Contrastive Search** chose `␣eggs` (20.0%)" in hidden and "/lab reveal" in hidden
    assert "penalty" not in hidden
    csv_text = to_csv(step_through([token]), set())
    assert "penalty" not in csv_text.splitlines()[1] and "reveals" in csv_text
    sampling = StepPick(
        method="sampling",
        token=TokenProbability(9, " eggs", "␣eggs", 0.2),
        params={"temperature": 0.7, "top_k": 50, "top_p": 0.9, "seed": 42},
        drawn_probability=0.35,
        seed=42,
    )
    why = explain(picked("sampling", sampling), EOS, {"sampling"})
    assert "drew `␣eggs` at random with seed 42" in why
    assert "after temperature 0.7, top-k 50 and top-p 0.9 its probability was 35.0%" in why


def test_a_members_pick_says_which_candidate_it_was():
    token = StepToken(1, 5, " and", "␣and", 0.3, "member", 7, "Ada @everyone", {"rank": 3})
    assert explain(token, EOS, set()) == (
        "**Ada @\u200beveryone** chose `␣and` (30.0%), the 3rd likeliest candidate."
    )


def test_the_path_shows_the_latest_tokens_and_who_chose_them():
    tokens = [
        StepToken(n, 5, " and", "␣and", 0.3, "member", 7, "Ada", {"rank": 1}) for n in range(1, 16)
    ]
    embed = step_embed(step_through(tokens), set(), "tiny · 0.1 s · 1.0 µWh")
    path = {f.name: f.value for f in embed.fields}["Path"].splitlines()
    assert path[0] == "… 3 earlier (Export path has them all)"
    assert path[-1] == "15. `␣and` · Ada · 30.0%" and len(path) == 13
    assert embed.footer.text == "15 of 40 tokens · tiny · 0.1 s · 1.0 µWh"


def test_the_step_limit_is_the_lowest_of_forty_the_runner_and_the_server():
    assert max_steps(100, 0) == 40
    assert max_steps(20, 0) == 20
    assert max_steps(100, 8) == 8


class NoRunner:
    async def call(self, op):
        raise AssertionError("no next step to ask for")


async def test_choosing_the_end_of_text_ends_it_without_asking_the_model(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        step_id = await step_throughs.start(
            db,
            guild_id=1,
            group_id=None,
            started_by=7,
            prompt="Mix",
            model_label="Pre-trained",
            adapter=None,
            model="tiny",
            max_steps=40,
            end_of_text=EOS,
            candidates=[Candidate(EOS, "<|endoftext|>", END_OF_TEXT, 0.5)],
        )
        step = await step_throughs.get(db, step_id, 1)
        end = StepToken(1, EOS, "<|endoftext|>", END_OF_TEXT, 0.5, "member", 7, "Ada")
        bot = SimpleNamespace(db=db, runner=NoRunner())
        now, result = await take(bot, step, end)
        assert result is None and now.ended == "eos" and now.text == ""
        assert now.tokens[0].display == END_OF_TEXT
    finally:
        await db.close()
