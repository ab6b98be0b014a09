"""The decoding commands' cog."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import fine_tuned, seeds
from bot.charts import sampler_stages_chart
from bot.context import member, server_id
from bot.errors import LabError
from bot.exts.sampling._beamtree import beam_revealed, beam_tree_view
from bot.exts.sampling._checks import check_prompt, decoding_params
from bot.exts.sampling._models import answered_by, pick_examples, run_columns
from bot.exts.sampling._render import METHOD_NAMES, compare_reply, generate_reply, models_reply
from bot.exts.sampling._stages import CHART, shown_tokens, stages_embed
from bot.groups import group_of, require_group
from bot.permissions import is_instructor
from bot.progress import show_queue
from bot.storage import finetune_jobs, guild_settings, pools, tables
from model_runner.protocol import (
    LAB_SETTINGS,
    Compare,
    Generate,
    SamplerStages,
)

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

METHODS = [app_commands.Choice(name=name, value=value) for value, name in METHOD_NAMES.items()]
COMPARISONS = [
    app_commands.Choice(name="The four decoding methods", value="methods"),
    app_commands.Choice(name="Pre-trained, in-context and fine-tuned", value="models"),
]


def min_tokens_for(given: int | None, is_fine_tuned: bool, max_tokens: int) -> int:
    """The minimum length asked for, else the lab's default for the model."""
    if given is not None:
        return given
    return min(max_tokens, fine_tuned.FINE_TUNED_MIN_TOKENS) if is_fine_tuned else 0


class Sampling(commands.Cog):
    """Task 3: how the model picks the next token."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    def _ceiling(self) -> int:
        return self.bot.settings.runner.max_new_tokens

    @app_commands.command(name="generate")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The text the model should continue",
        method="How the next token is picked",
        max_tokens="How many tokens to add",
        temperature="Random sampling: below 1 sharper, above 1 flatter (0.05-5)",
        top_k="Sampling: only the k likeliest tokens (0 = all); contrastive: candidates (1-20)",
        top_p="Random sampling: only the likeliest tokens that make up this share (0.01-1)",
        num_beams="Beam search: how many continuations are kept (2-10)",
        penalty_alpha="Contrastive search: how strongly repetition is penalised (0-1)",
        seed="Random sampling: the same seed gives the same text",
        model="Pre-trained (default), fine-tuned (your group's latest), a version (v1, ...) or class-aligned",
        min_tokens="At least this many tokens before the model may end the text "
        "(default 5 for a fine-tuned model, else 0)",
    )
    @app_commands.choices(method=METHODS)
    @app_commands.autocomplete(model=fine_tuned.autocomplete)
    async def generate(
        self,
        interaction: discord.Interaction,
        prompt: str,
        method: str = "greedy",
        max_tokens: app_commands.Range[int, 1, 1024] = 30,
        temperature: app_commands.Range[float, 0.05, 5.0] | None = None,
        top_k: app_commands.Range[int, 0, 1000] | None = None,
        top_p: app_commands.Range[float, 0.01, 1.0] | None = None,
        num_beams: app_commands.Range[int, 2, 10] | None = None,
        penalty_alpha: app_commands.Range[float, 0.0, 1.0] | None = None,
        seed: app_commands.Range[int, 0, 2_147_483_647] | None = None,
        model: str | None = None,
        min_tokens: app_commands.Range[int, 0, 1024] | None = None,
    ) -> None:
        """Continue a prompt with one decoding method (pre-trained or fine-tuned model)."""
        check_prompt(prompt)
        given = {
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "num_beams": num_beams,
            "penalty_alpha": penalty_alpha,
            "seed": seed,
        }
        chosen = await fine_tuned.resolve(self.bot.db, member(interaction), model)
        # Bad values are answered (privately) before anything is posted.
        params = decoding_params(
            self._ceiling(),
            method=method,
            max_new_tokens=max_tokens,
            # A group's fine-tune learned to end the text after a sentence; alignment did not.
            min_new_tokens=min_tokens_for(min_tokens, chosen.record is not None, max_tokens),
            **{k: v for k, v in given.items() if v is not None},
        )
        await self.bot.policy.admit(interaction, max_tokens)
        await interaction.response.defer(thinking=True)
        await show_queue(self.bot, interaction)
        result = await self.bot.runner.call(Generate(prompt, params, chosen.adapter))
        embed, files = generate_reply(result, chosen.label)
        await interaction.edit_original_response(content=None, embed=embed, attachments=files)

    @app_commands.command(name="sampler")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The text so far",
        temperature="Below 1 sharpens the distribution, above 1 flattens it (0.05-5)",
        top_k="Keep only the k likeliest tokens (0 = all; 50 as in Random Sampling)",
        top_p="Keep the fewest likeliest tokens that make up this share (0.01-1; 1 = all)",
        seed="The same seed draws the same token (default: a new one, shown in the reply)",
    )
    async def sampler(
        self,
        interaction: discord.Interaction,
        prompt: str,
        temperature: app_commands.Range[float, 0.05, 5.0] = 1.0,
        top_k: app_commands.Range[int, 0, 1000] = 50,
        top_p: app_commands.Range[float, 0.01, 1.0] = 1.0,
        seed: app_commands.Range[int, 0, 2_147_483_647] | None = None,
    ) -> None:
        """Watch Random Sampling pick the next token: after temperature, top-k and top-p."""
        check_prompt(prompt)
        settings = await guild_settings.load(self.bot.db, server_id(interaction))
        if "sampling" not in settings.get("revealed", []) and not is_instructor(interaction):
            # It shows how Random Sampling works: the lab has groups guess first.
            raise LabError(
                "Not yet! /sampler shows how Random Sampling works, so it opens when your "
                "instructor reveals Random Sampling (/lab reveal). First guess, as a group, "
                "from /compare and /generate."
            )
        if seed is None:  # chosen here so that it fits /generate's seed option
            seed = seeds.fresh_seed()
        op = SamplerStages(prompt, temperature, top_k, top_p, top=10, seed=seed)
        await self.bot.policy.admit(interaction)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.call(op)
        rows = shown_tokens(result)
        chart = await asyncio.to_thread(
            sampler_stages_chart,
            [c.display for c in rows],
            result.stages,
            result.kept,
            [[c.probabilities[s] for c in rows] for s in range(len(result.stages))],
            rows.index(result.drawn),
        )
        await interaction.edit_original_response(
            embed=stages_embed(result, rows, temperature, top_k, top_p),
            attachments=[discord.File(io.BytesIO(chart), filename=CHART)],
        )

    @app_commands.command(name="compare")
    @app_commands.describe(
        prompt="The text the model should continue",
        max_tokens="How many tokens each method adds",
        seed="Random sampling's seed (the same seed gives the same text)",
        models="What to compare: the decoding methods, or the pre-trained and fine-tuned models",
        version="models: which fine-tuned version (default: your group's latest)",
        method="models: the decoding method every column uses (default Greedy)",
        min_tokens="models: at least this many tokens before a model may end the text (default 5)",
    )
    @app_commands.choices(models=COMPARISONS, method=METHODS)
    @app_commands.guild_only()
    async def compare(
        self,
        interaction: discord.Interaction,
        prompt: str,
        max_tokens: app_commands.Range[int, 1, 1024] = 30,
        seed: app_commands.Range[int, 0, 2_147_483_647] | None = None,
        models: str = "methods",
        version: app_commands.Range[int, 1, 10_000] | None = None,
        method: str = "greedy",
        min_tokens: app_commands.Range[int, 0, 1024] | None = None,
    ) -> None:
        """Compare decoding methods side by side, or the pre-trained and fine-tuned models."""
        if models == "models":
            least = min_tokens_for(min_tokens, True, max_tokens)
            await self._compare_models(
                interaction, prompt, max_tokens, seed, version, method, least
            )
            return
        if min_tokens:
            raise LabError(
                "min_tokens is for models:Pre-trained, in-context and fine-tuned; the four "
                "methods run with the lab's settings."
            )
        check_prompt(prompt)
        decoding_params(self._ceiling(), max_new_tokens=max_tokens)
        if seed is None:  # chosen here so that the table can say which seed made the row
            seed = seeds.fresh_seed()
        group = await group_of(self.bot.db, member(interaction))
        await self.bot.policy.admit(interaction, max_tokens)
        await interaction.response.defer(thinking=True)
        await show_queue(self.bot, interaction)
        result = await self.bot.runner.call(Compare(prompt, max_tokens, seed))
        # Once 5-Beam is revealed, the tree of its search is a click (or a command) away.
        tree = await beam_revealed(self.bot, server_id(interaction))
        view = None
        if group is not None:
            row_id = await tables.add_row(
                self.bot.db,
                guild_id=server_id(interaction),
                group_id=group.id,
                user_id=interaction.user.id,
                kind="decoding",
                prompt=prompt,
                columns={r.method: r.text for r in result.results},
                model=result.model,
                max_tokens=max_tokens,
                seed=seed,
            )
            note = (
                f"Saved to {group.name}'s table (max tokens {max_tokens}, seed {seed}): /table show"
            )
            if tree:
                view = beam_tree_view(row_id)
                note += "\n5-Beam step by step: the Beam tree button, or /beamtree"
        else:
            note = (
                f"Random Sampling's seed: {seed}. Not saved: join a group to build your "
                "group's table."
            )
            if tree:
                note += "\n5-Beam step by step: /beamtree with this prompt"
        embed, files = compare_reply(result, note)
        await interaction.edit_original_response(
            content=None, embed=embed, attachments=files, view=view
        )

    async def _compare_models(
        self,
        interaction: discord.Interaction,
        prompt: str,
        max_tokens: int,
        seed: int | None,
        version: int | None,
        method: str,
        min_tokens: int,
    ) -> None:
        """Pre-trained | In-context | Fine-tuned, saved to the group's fine-tune table; every
        column writes at least `min_tokens` tokens (the same settings for every model)."""
        check_prompt(prompt)
        if method == "sampling" and seed is None:
            seed = seeds.fresh_seed()  # one seed for every column: only the model differs
        params = decoding_params(
            self._ceiling(),
            method=method,
            max_new_tokens=max_tokens,
            min_new_tokens=min_tokens,
            **LAB_SETTINGS[method],
            **({"seed": seed} if method == "sampling" else {}),
        )
        group = await require_group(self.bot.db, member(interaction))
        versions = await finetune_jobs.trained(self.bot.db, group.id)
        if versions:
            wanted = f"v{version}" if version else fine_tuned.LATEST
            tuned = fine_tuned.choose(group, versions, wanted)
            sentences = tuned.record.sentences
        else:
            if version:
                raise LabError(f"{group.name} has no fine-tuned version yet.")
            tuned = None
            sentences = [item.text for item in await pools.sentences(self.bot.db, group.id)]
        examples = pick_examples(sentences, prompt)
        await self.bot.policy.admit(interaction, max_tokens)
        await interaction.response.defer(thinking=True)
        await show_queue(self.bot, interaction)
        columns = await run_columns(self.bot.runner, prompt, params, tuned, examples)
        await tables.add_row(
            self.bot.db,
            guild_id=server_id(interaction),
            group_id=group.id,
            user_id=interaction.user.id,
            kind="finetune",
            prompt=prompt,
            columns={
                **{c.key: c.result.text for c in columns if c.result is not None},
                "version": f"v{tuned.record.version}" if tuned else "",
                "examples": " / ".join(examples),
                "method": METHOD_NAMES.get(method, method),
                "perplexity": fine_tuned.held_out_perplexity(tuned.record.results) if tuned else "",
            },
            model=answered_by(columns),
            max_tokens=max_tokens,
            seed=seed if method == "sampling" else None,
            example=tuned.record.example if tuned else None,
        )
        table = (
            "Fine-tuned on a built-in example"
            if tuned and tuned.record.example
            else "Fine-tuned on your own sentences"
        )
        note = f"Saved to {group.name}'s fine-tune table: /table show kind:{table}"
        embed, files = models_reply(prompt, method, columns, examples, answered_by(columns), note)
        await interaction.edit_original_response(content=None, embed=embed, attachments=files)
