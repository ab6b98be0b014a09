"""/nexttoken, /tokens and /loss through the emulator (tiny model)."""

from __future__ import annotations

import re

import pytest

from discord_emulator import ActionError

PROMPT = "The best thing about AI is its ability to"


def percentages(text: str) -> list[float]:
    return [float(p) for p in re.findall(r"` (\d+\.\d)%", text)]


async def test_nexttoken_shows_a_chart_and_the_ranked_tokens(lab):
    reply = await lab.actor("Ada").slash("nexttoken", prompt=PROMPT, top=5)
    message = reply.message
    assert message.files[0].filename == "nexttoken.png"
    assert message.files[0].data.startswith(b"\x89PNG")
    assert message.embeds[0]["image"]["url"] == "attachment://nexttoken.png"
    shown = percentages(message.embeds[0]["description"])
    assert len(shown) == 5 and shown == sorted(shown, reverse=True)


async def test_temperature_sharpens_and_flattens(lab):
    ada = lab.actor("Ada")
    cold = percentages((await ada.slash("nexttoken", prompt=PROMPT, temperature=0.2)).text)
    hot = percentages((await ada.slash("nexttoken", prompt=PROMPT, temperature=3)).text)
    assert cold[0] > hot[0] and sum(cold) > sum(hot)
    assert "temperature 0.2" in (await ada.slash("nexttoken", prompt=PROMPT, temperature=0.2)).text


async def test_tokens_lists_ids_and_pieces(lab):
    reply = await lab.actor("Ada").slash("tokens", text="The best thing")
    description = reply.message.embeds[0]["description"]
    assert "tokens for 14 characters" in reply.text
    assert "Ġbest" in description and "␣best" in description


async def test_long_token_lists_are_attached(lab):
    reply = await lab.actor("Ada").slash("tokens", text="Mix the flour with the eggs. " * 30)
    assert reply.message.files[0].filename == "tokens.tsv"
    assert len(reply.message.embeds[0]["description"]) <= 4096


async def test_loss_reports_mean_and_perplexity_and_marks_surprises(lab):
    reply = await lab.actor("Ada").slash("loss", text="Mix the flour with the eggs")
    embed = reply.message.embeds[0]
    mean, perplexity = re.match(
        r"Mean loss (\d+\.\d+) · perplexity (\d+\.\d)", embed["title"]
    ).groups()
    assert abs(2.718281828 ** float(mean) - float(perplexity)) / float(perplexity) < 0.01
    assert embed["description"].count("◀") == 3 and "**" in embed["description"]


@pytest.mark.parametrize("command", ["tokens", "loss"])
async def test_empty_and_overlong_text(lab, command):
    ada = lab.actor("Ada")
    assert "is empty" in (await ada.slash(command, text="  ")).text
    assert "at most 1000" in (await ada.slash(command, text="x" * 1001)).text


async def test_client_refuses_a_top_out_of_range(lab):
    with pytest.raises(ActionError, match="between 1 and 20"):
        await lab.actor("Ada").slash("nexttoken", prompt=PROMPT, top=99)
