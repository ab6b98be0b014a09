"""The pre-training commands' cog."""

from __future__ import annotations

import asyncio
import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.charts import probability_bars
from bot.errors import LabError
from bot.exts.pretraining._render import loss_reply, next_token_embed, tokens_reply
from bot.formatting import clip

MAX_TEXT = 1000


def check_text(text: str, what: str = "text") -> str:
    """Non-empty text within the limit."""
    if not text.strip():
        raise LabError(f"The {what} is empty: type some text.")
    if len(text) > MAX_TEXT:
        raise LabError(f"The {what} is too long ({len(text)} characters; at most {MAX_TEXT}).")
    return text


class Pretraining(commands.Cog):
    """Task 1: tokens, next-token probabilities, loss."""

    def __init__(self, bot) -> None:
        self.bot = bot

    @app_commands.command(name="nexttoken")
    @app_commands.describe(
        prompt="The text so far",
        temperature="Below 1 sharpens the distribution, above 1 flattens it (0.05-5)",
        top="How many candidates to show (1-20)",
    )
    async def nexttoken(
        self,
        interaction: discord.Interaction,
        prompt: str,
        temperature: app_commands.Range[float, 0.05, 5.0] = 1.0,
        top: app_commands.Range[int, 1, 20] = 10,
    ) -> None:
        """The most likely next tokens and their probabilities, as a chart."""
        check_text(prompt, "prompt")
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.next_token(prompt, temperature, top)
        labels = [c.display for c in result.candidates]
        title, _ = clip(f"{prompt} …", 60)
        chart = await asyncio.to_thread(
            probability_bars,
            labels,
            [c.probability for c in result.candidates],
            f"{title}  (temperature {temperature:g})",
        )
        await interaction.edit_original_response(
            embed=next_token_embed(result),
            attachments=[discord.File(io.BytesIO(chart), filename="nexttoken.png")],
        )

    @app_commands.command(name="tokens")
    @app_commands.describe(text="Any text: see how the model splits it")
    async def tokens(self, interaction: discord.Interaction, text: str) -> None:
        """Each token of a text, with its id and piece."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        embed, files = tokens_reply(await self.bot.runner.tokenize(text))
        await interaction.edit_original_response(embed=embed, attachments=files)

    @app_commands.command(name="loss")
    @app_commands.describe(text="A sentence: how surprised is the model by each token?")
    async def loss(self, interaction: discord.Interaction, text: str) -> None:
        """Per-token probability and loss, mean loss and perplexity."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        embed, files = loss_reply(await self.bot.runner.loss(text))
        await interaction.edit_original_response(embed=embed, attachments=files)
