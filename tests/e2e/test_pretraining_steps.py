"""/attention, /embedding and /trainstep through the emulator, with bad input."""

from __future__ import annotations

import hashlib

import pytest

from discord_emulator import ActionError

SENTENCE = "The cat sat on the mat because it was tired"


async def test_attention_heatmap_and_text(lab):
    ada = lab.actor("Ada")
    reply = await ada.slash("attention", text=SENTENCE)
    embed = reply.message.embeds[0]
    assert embed["title"] == "Attention in layer 2 of 2 (all 2 heads)"  # tiny: 2 layers, 2 heads
    rows = embed["description"].strip("`\n").splitlines()[1:]
    assert rows[0].startswith("The ") and rows[0].endswith("→ -")  # nothing earlier in the text
    assert all("→" in row for row in rows) and "%" in rows[1]
    assert [f.filename for f in reply.message.files] == ["attention.png"]
    assert reply.message.files[0].data.startswith(b"\x89PNG")
    one_head = await ada.slash("attention", text=SENTENCE, layer=1, head=2)
    assert one_head.message.embeds[0]["title"] == "Attention in layer 1 of 2 (head 2 of 2)"


def test_the_line_per_token_names_the_strongest_earlier_word():
    from bot.exts.pretraining._steps import strongest_earlier

    weights = [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0.5, 0.1, 0.4, 0], [0.4, 0.35, 0.05, 0.2]]
    assert [strongest_earlier(weights, i) for i in range(4)] == [None, None, 1, 1]


def attention_rows(weights: list[list[float]]) -> list[str]:
    from bot.exts.pretraining._steps import attention_reply
    from model_runner.protocol import AttentionResult, TokenPiece

    words = ["<bos>", "The", "cat", "sat", "down"][: len(weights)]
    result = AttentionResult(
        text=" ".join(words[1:]),
        tokens=[TokenPiece(id=i, piece=w, text=w, display=w) for i, w in enumerate(words)],
        layer=1,
        head=None,
        layers=1,
        heads=1,
        weights=weights,
        attends_to=[0] * len(weights),
    )
    embed, _ = attention_reply(result)
    return embed.description.strip("`\n").splitlines()[1:]


def test_a_token_whose_attention_is_spread_out_names_no_winner():
    rows = attention_rows(
        [
            [1.0, 0, 0, 0, 0],
            [0.9, 0.1, 0, 0, 0],
            [0.6, 0.3, 0.1, 0, 0],  # cat → The, 30%: a clear favourite
            [0.97, 0.01, 0.005, 0.015, 0],  # sat: 1% at most on a word, the rest on <bos>
            [0.1, 0.22, 0.24, 0.21, 0.23],  # down: an even split over The, cat, sat
        ]
    )
    assert rows[0].endswith("→ -")
    assert "→ The" in rows[1] and rows[1].endswith("30%")
    assert rows[2] == f"{'sat':<12}→ spread out (no earlier word over 5%)"
    assert rows[3] == f"{'down':<12}→ spread out (about evenly)"


async def test_attention_bad_input(lab):
    ada = lab.actor("Ada")
    too_deep = await ada.slash("attention", text=SENTENCE, layer=9)
    # Only the runner knows the model's depth, so the bot had posted its public "thinking"
    # placeholder already: the error is still private, like every other, and nothing of the
    # placeholder stays in the channel.
    assert too_deep.ephemeral and "layer must be between 1 and 2" in too_deep.text
    assert [m.text() for m in too_deep.messages] == [too_deep.text]
    channel = lab.emulator.channel_history(ada.channel_id)
    shown = [m for m in channel if not m.payload.get("deleted")]
    assert not any(m.interaction_id == too_deep.interaction.id for m in shown)
    assert not any("layer must be" in m.text() for m in channel)  # not even for a moment
    too_many_heads = await ada.slash("attention", text=SENTENCE, head=3)
    assert too_many_heads.ephemeral and "head must be between 1 and 2" in too_many_heads.text
    long = await ada.slash("attention", text="word " * 100)
    assert long.ephemeral and "64" in long.text
    empty = await ada.slash("attention", text="  ")
    assert empty.ephemeral and "empty" in empty.text


async def test_embedding_neighbours_and_map(lab):
    reply = await lab.actor("Ada").slash("embedding", words="cat dog, the", top=5)
    embed = reply.message.embeds[0]
    names = [f["name"] for f in embed["fields"]]
    assert names[:2] == ["cat dog", "the"]
    assert embed["fields"][0]["value"].count("`") >= 2 * 6  # pieces + 5 neighbours
    assert reply.message.files[0].filename == "embedding.png"


async def test_embedding_bad_input(lab):
    ada = lab.actor("Ada")
    many = await ada.slash("embedding", words="a b c d e f g h i")
    assert many.ephemeral and "At most 8 words" in many.text
    with pytest.raises(ActionError, match="between 1 and 20"):
        await ada.slash("embedding", words="cat", top=50)


def weights_hash(lab) -> str:
    model = lab.bot.runner.runner._engine.model
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


async def test_trainstep_lowers_the_loss_and_leaves_the_class_model_alone(lab):
    ada = lab.actor("Ada")
    await ada.slash("tokens", text="warm up")  # the model is loaded
    before = weights_hash(lab)
    reply = await ada.slash("trainstep", text=SENTENCE, steps=3, learning_rate=0.05)
    embed = reply.message.embeds[0]
    first, last = (float(x) for x in embed["title"].split()[1:4:2])
    assert last < first and "after 3 steps" in embed["title"]
    assert "unchanged" in embed["fields"][0]["value"]
    assert reply.message.files[0].filename == "trainstep.png"
    assert weights_hash(lab) == before
    bad = await ada.slash("trainstep", text="word " * 100)
    assert bad.ephemeral and "64" in bad.text


async def test_trainstep_explains_a_step_that_overshot(lab):
    # On the tiny model this rate is too big: the second step lands higher than the first.
    reply = await lab.actor("Ada").slash("trainstep", text=SENTENCE, steps=3, learning_rate=0.1)
    fields = {f["name"]: f["value"] for f in reply.message.embeds[0]["fields"]}
    [name] = [n for n in fields if n.startswith("Why the loss went up at step")]
    assert "Overshooting" in fields[name] and "smaller learning_rate" in fields[name]
    calm = await lab.actor("Ada").slash("trainstep", text=SENTENCE, steps=3, learning_rate=0.005)
    assert not any(f["name"].startswith("Why") for f in calm.message.embeds[0]["fields"])
