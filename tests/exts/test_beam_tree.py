"""The beam tree's picture and text, from a small hand-made search: 2 beams, 3 steps.

Step 1 keeps " sat" and " is"; step 2 keeps " sat on" and " is happy", ends " sat." early
(a finished hypothesis) and drops " sat down"; step 3 is the length limit, where " sat on the"
wins. The picture is read from its matplotlib objects, not its pixels.
"""

from __future__ import annotations

from matplotlib.text import Text

from bot.charts import beam_tree_figure, tree_node_text
from bot.exts.sampling._tree import (
    EMBED_BUDGET,
    alt_text,
    look_ahead,
    step_lines,
    tree_columns,
    tree_embed,
    winner_path,
)
from model_runner.protocol import BeamCandidate, BeamHypothesis, BeamStep, BeamTraceResult


def candidate(text, score, fate, parent, beam=None, final=None):
    display = text.replace(" ", "␣")
    return BeamCandidate(
        id=hash(text) % 1000,
        text=text,
        display=display,
        parent=parent,
        score=score,
        fate=fate,
        beam=beam,
        final_score=final,
    )


def search(first_winner: bool = True) -> BeamTraceResult:
    """The hand-made search; with `first_winner` False the winner starts with the 2nd token."""
    start = 0 if first_winner else 1
    steps = [
        BeamStep(
            [
                candidate(" sat", -1.0, "kept", 0, beam=0),
                candidate(" is", -1.5, "kept", 0, beam=1),
                candidate(" was", -2.0, "dropped", 0),
                candidate(" ran", -2.5, "dropped", 0),
            ]
        ),
        BeamStep(
            [
                candidate(" on", -1.8, "kept", start, beam=0),
                candidate(" happy", -2.1, "kept", 1 - start, beam=1),
                candidate(".", -2.3, "finished", 0, final=-1.15),
                candidate(" down", -2.6, "dropped", 0),
            ]
        ),
        BeamStep(
            [
                candidate(" the", -2.4, "finished", 0, final=-0.8),
                candidate(".", -2.9, "finished", 1, final=-0.97),
                candidate(" a", -3.0, "dropped", 0),
                candidate("!", -3.2, "dropped", 1),
            ]
        ),
    ]
    words = (" sat", " on", " the") if first_winner else (" is", " on", " the")
    return BeamTraceResult(
        prompt="The cat",
        params={"num_beams": 2, "max_new_tokens": 3, "length_penalty": 1.0},
        steps=steps,
        hypotheses=[
            BeamHypothesis(3, 0, [1, 2, 3], "".join(words), -0.8, -2.4),
            BeamHypothesis(3, 1, [4, 5, 6], " is happy.", -0.97, -2.9),
        ],
        stopped="max_new_tokens",
        model="tiny",
        compute_ms=12.0,
    )


def node_texts(fig) -> list[Text]:
    """The tree's nodes: the texts drawn in a box."""
    return [t for t in fig.axes[0].texts if t.get_bbox_patch() is not None]


def test_the_columns_link_each_candidate_to_the_beam_it_extends():
    columns = tree_columns(search())
    assert [[n.label for n in column] for column in columns] == [
        ["␣sat", "␣is", "␣was", "␣ran"],
        ["␣on", "␣happy", ".", "␣down"],
        ["␣the", ".", "␣a", "!"],
    ]
    # Parents are places in the column before: " happy" extends " is", the second node.
    assert [n.parent for n in columns[1]] == [0, 1, 0, 0]
    assert [n.parent for n in columns[2]] == [0, 1, 0, 1]
    assert winner_path(search()) == {(0, 0), (1, 0), (2, 0)}
    assert [n.winner for n in columns[2]] == [True, False, False, False]
    assert columns[1][2].final == -1.15 and columns[1][2].fate == "finished"


def test_the_figure_shows_every_node_with_its_score_and_the_winner_in_bold():
    fig = beam_tree_figure("The cat", tree_columns(search()), "2-beam search")
    texts = node_texts(fig)
    labels = [t.get_text() for t in texts]
    assert labels[0] == "The cat"  # the prompt, where the tree starts
    assert labels[1:5] == ["␣sat\n-1.00", "␣is\n-1.50", "␣was\n-2.00", "␣ran\n-2.50"]
    assert ".\n-2.30 (-1.15)" in labels  # a finished hypothesis: its ranking score too
    bold = [t.get_text() for t in texts if t.get_fontweight() == "bold"]
    assert bold == ["The cat", "␣sat\n-1.00", "␣on\n-1.80", "␣the\n-2.40 (-0.80)"]
    styles = {t.get_text(): t.get_bbox_patch().get_linestyle() for t in texts}
    assert styles["␣down\n-2.60"] == "dashed" and styles["␣is\n-1.50"] == "solid"
    assert {t.get_gid() for t in texts} == {
        "kept",
        "kept-winner",
        "finished",
        "finished-winner",
        "dropped",
    }
    headers = [t.get_text() for t in fig.axes[0].texts if t.get_bbox_patch() is None]
    assert headers == ["prompt", "step 1", "step 2", "step 3"]
    assert fig.axes[0].get_title(loc="left") == "2-beam search"
    # One edge per candidate, the winner's three drawn bold.
    lines = fig.axes[0].get_lines()
    assert len(lines) == 12
    assert sum(line.get_linewidth() > 2 for line in lines) == 3
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [
        "kept: a beam carried on",
        "finished (score ÷ length)",
        "dropped",
        "the winner's path",
    ]


def test_edges_meet_the_boxes_they_join():
    fig = beam_tree_figure("The cat", tree_columns(search()), "")
    renderer = fig.canvas.get_renderer()
    texts = node_texts(fig)
    first_edge = fig.axes[0].get_lines()[0]  # the prompt to " sat"
    (x0, _), (x1, _) = fig.axes[0].transData.transform(first_edge.get_xydata())
    prompt_box = texts[0].get_bbox_patch().get_window_extent(renderer)
    sat_box = texts[1].get_bbox_patch().get_window_extent(renderer)
    assert abs(x0 - prompt_box.x1) < 2 and abs(x1 - sat_box.x0) < 2


def test_a_long_token_is_cut_on_the_picture():
    node = tree_columns(search())[0][0]
    long = type(node)("␣" + "x" * 30, -1.0, "kept", 0)
    assert tree_node_text(long).split("\n")[0] == "␣" + "x" * 10 + "…"


def test_the_text_lists_each_step_for_screen_readers():
    result = search()
    assert step_lines(result, 0) == (
        "Kept: “sat” -1.00, “is” -1.50\nDropped: “was” -2.00, “ran” -2.50"
    )
    assert step_lines(result, 1) == (
        "Kept: “sat on” -1.80, “is happy” -2.10\n"
        "Ended: “sat.” -2.30 (ranked -1.15)\n"
        "Dropped: “sat down” -2.60"
    )
    embed = tree_embed(result, "The same text as /generate")
    assert embed.title == "2-beam search, step by step"
    assert embed.description.startswith("**The cat** → **sat on the**\n")
    assert [f.name for f in embed.fields] == ["Step 1", "Step 2", "Step 3"]
    assert embed.fields[2].value.startswith("Ended: “sat on the” -2.40 (ranked -0.80)")
    assert "The same text as /generate" in embed.footer.text
    assert embed.image.url == "attachment://beamtree.png"
    assert "sat on the" in alt_text(result) and "3 steps of 2 beams" in alt_text(result)


def test_the_reply_says_when_the_winner_did_not_start_with_the_likeliest_token():
    assert "the likeliest first token, `␣sat`" in look_ahead(search())
    later = look_ahead(search(first_winner=False))
    assert "`␣is`, only the 2nd likeliest first token" in later and "`␣sat`" in later


def test_a_big_tree_still_fits_in_one_embed():
    long = "a" * 60
    steps = [
        BeamStep(
            [
                candidate(
                    long + str(k),
                    -1.0 * s - k,
                    "kept" if k < 6 else "dropped",
                    k % 6,
                    beam=k if k < 6 else None,
                )
                for k in range(12)
            ]
        )
        for s in range(10)
    ]
    result = BeamTraceResult(
        prompt="p" * 1000,
        params={"num_beams": 6},
        steps=steps,
        hypotheses=[BeamHypothesis(10, 0, [1] * 10, long * 10, -1.0, -10.0)],
        stopped="max_new_tokens",
    )
    embed = tree_embed(result, "note")
    assert len(embed) <= EMBED_BUDGET and len(embed.fields) == 10
    assert all(len(f.value) <= 1024 for f in embed.fields)
