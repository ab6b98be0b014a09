"""The pre-training commands' cog."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.charts import attention_heatmap, embedding_map, probability_bars, train_step_chart
from bot.errors import LabError
from bot.exts.pretraining._render import loss_reply, next_token_embed, tokens_reply
from bot.exts.pretraining._steps import attention_reply, embedding_reply, train_step_reply
from bot.formatting import clip
from model_runner.protocol import Attention, Embedding, Loss, NextToken, Tokenize, TrainStep
from model_runner.protocol.limits import (
    LEARNING_RATE_DEFAULT,
    LEARNING_RATE_RANGE,
    MAX_WORD_CHARS,
    STEPS_DEFAULT,
    STEPS_RANGE,
    TOP_DEFAULT,
    TOP_RANGE,
    WORDS_RANGE,
)

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

MAX_TEXT = 1000


def check_text(text: str, what: str = "text") -> str:
    """Non-empty text within the limit."""
    if not text.strip():
        raise LabError(f"The {what} is empty: type some text.")
    if len(text) > MAX_TEXT:
        raise LabError(f"The {what} is too long ({len(text)} characters; at most {MAX_TEXT}).")
    return text


def split_words(text: str) -> list[str]:
    """Words separated by commas (so phrases work), or by spaces when there is no comma."""
    parts = text.split(",") if "," in text else text.split()
    words = [" ".join(p.split()) for p in parts if p.strip()]
    if not words:
        raise LabError("Give one or more words, separated by spaces or commas.")
    if len(words) > WORDS_RANGE[1]:
        raise LabError(f"At most {WORDS_RANGE[1]} words at once (you gave {len(words)}).")
    long = next((w for w in words if len(w) > MAX_WORD_CHARS), None)
    if long is not None:
        raise LabError(f"Each word can have at most {MAX_WORD_CHARS} characters.")
    return words


def _png(data: bytes, name: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)


class Pretraining(commands.Cog):
    """Task 1: tokens, embeddings, attention, next-token probabilities, loss, one train step."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    @app_commands.command(name="nexttoken")
    @app_commands.guild_only()
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
        result = await self.bot.runner.call(NextToken(prompt, temperature, top))
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
    @app_commands.guild_only()
    @app_commands.describe(text="Any text: see how the model splits it")
    async def tokens(self, interaction: discord.Interaction, text: str) -> None:
        """Each token of a text, with its id and piece."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        embed, files = tokens_reply(await self.bot.runner.call(Tokenize(text)))
        await interaction.edit_original_response(embed=embed, attachments=files)

    @app_commands.command(name="loss")
    @app_commands.guild_only()
    @app_commands.describe(text="A sentence: how surprised is the model by each token?")
    async def loss(self, interaction: discord.Interaction, text: str) -> None:
        """Per-token probability and loss, mean loss and perplexity."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        embed, files = loss_reply(await self.bot.runner.call(Loss(text)))
        await interaction.edit_original_response(embed=embed, attachments=files)

    @app_commands.command(name="attention")
    @app_commands.guild_only()
    @app_commands.describe(
        text="A sentence (at most 64 tokens)",
        layer="Which layer (1 = nearest the input; default: the last)",
        head="One attention head (default: the average of all heads)",
    )
    async def attention(
        self,
        interaction: discord.Interaction,
        text: str,
        layer: app_commands.Range[int, 1, 256] | None = None,
        head: app_commands.Range[int, 1, 256] | None = None,
    ) -> None:
        """Which earlier words each word looks at: a heatmap of the attention weights."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.call(Attention(text, layer, head))
        labels = [t.display for t in result.tokens]
        which = f"head {result.head}" if result.head else "mean of heads"
        chart = await asyncio.to_thread(
            attention_heatmap, labels, result.weights, f"Layer {result.layer}, {which}"
        )
        embed, files = attention_reply(result)
        await interaction.edit_original_response(
            embed=embed, attachments=[_png(chart, "attention.png"), *files]
        )

    @app_commands.command(name="embedding")
    @app_commands.guild_only()
    @app_commands.describe(
        words="Up to 8 words, separated by spaces (or commas, for phrases)",
        top=f"How many nearest tokens per word ({TOP_RANGE[0]}-{TOP_RANGE[1]})",
    )
    async def embedding(
        self,
        interaction: discord.Interaction,
        words: str,
        top: app_commands.Range[int, TOP_RANGE[0], TOP_RANGE[1]] = TOP_DEFAULT,
    ) -> None:
        """Each word's nearest tokens in the model's embedding space, and a map of them."""
        wanted = split_words(words)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.call(Embedding(wanted, top))
        points = [(p.label, p.x, p.y, p.word, p.is_word) for p in result.points]
        chart = await asyncio.to_thread(embedding_map, points, "Token embeddings (PCA)")
        await interaction.edit_original_response(
            embed=embedding_reply(result), attachments=[_png(chart, "embedding.png")]
        )

    @app_commands.command(name="trainstep")
    @app_commands.guild_only()
    @app_commands.describe(
        text="A sentence for the model to learn (at most 64 tokens)",
        steps=f"Gradient steps ({STEPS_RANGE[0]}-{STEPS_RANGE[1]})",
        learning_rate="How big each step is (0.00001-0.1)",
    )
    async def trainstep(
        self,
        interaction: discord.Interaction,
        text: str,
        steps: app_commands.Range[int, STEPS_RANGE[0], STEPS_RANGE[1]] = STEPS_DEFAULT,
        learning_rate: app_commands.Range[
            float, LEARNING_RATE_RANGE[0], LEARNING_RATE_RANGE[1]
        ] = LEARNING_RATE_DEFAULT,
    ) -> None:
        """Backpropagation on your sentence: its loss before and after a few training steps."""
        check_text(text)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.call(TrainStep(text, steps, learning_rate))
        chart = await asyncio.to_thread(
            train_step_chart,
            result.losses,
            [t.display for t in result.tokens],
            [t.probabilities[0] for t in result.tokens],
            [t.probabilities[-1] for t in result.tokens],
            "One sentence, a few training steps",
        )
        embed, files = train_step_reply(result)
        await interaction.edit_original_response(
            embed=embed, attachments=[_png(chart, "trainstep.png"), *files]
        )
