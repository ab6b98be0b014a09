"""The blocker of issue 18 through Discord: a prompt near the model's context length gets a
clear answer, and the next member is still answered."""

from __future__ import annotations


async def test_250_emoji_are_refused_in_tokens_and_the_class_keeps_its_model(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    refused = await ada.slash("generate", prompt="😀" * 250)
    assert "The prompt is too long for the model: it is 1,000 tokens" in refused.text
    assert "at most 1,024 tokens" in refused.text
    other = await lab.actor("Bea", roles=["Group 2"]).slash(
        "generate", prompt="Hello", max_tokens=5
    )
    assert other.message.embeds[0]["title"] == "Greedy"
    about = await ada.slash("about")
    assert "ready" in about.text or "ready" in str(about.message.embeds)
