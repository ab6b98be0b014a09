"""A test-only extension that uses every kind of Discord interaction the features will use.

It proves the emulator handles buttons, selects, modals, attachments, deferred replies,
follow-ups with files, channel messages, threads and subcommands the way Discord does.
"""

from __future__ import annotations

import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LabModal, LabView


class ApproveView(LabView):
    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve(self, interaction: discord.Interaction, button: discord.ui.Button):
        button.disabled = True
        await interaction.response.edit_message(content="approved", view=self)

    @discord.ui.button(label="Fail", style=discord.ButtonStyle.danger)
    async def fail(self, interaction: discord.Interaction, button: discord.ui.Button):
        raise RuntimeError("planted failure in a button")


class MethodSelect(LabView):
    @discord.ui.select(
        placeholder="Pick methods",
        min_values=1,
        max_values=2,
        options=[
            discord.SelectOption(label="Greedy", value="greedy"),
            discord.SelectOption(label="5-Beam", value="beam"),
        ],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select):
        await interaction.response.send_message(
            f"picked {', '.join(select.values)}", ephemeral=True
        )


class AnswerModal(LabModal, title="Your group's answer"):
    answer = discord.ui.TextInput(
        label="Answer", style=discord.TextStyle.paragraph, max_length=4000
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(
            f"saved {len(self.answer.value)} characters", ephemeral=True
        )


class Widgets(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    widget = app_commands.Group(name="widget", description="Emulator self-test widgets.")

    @widget.command(name="buttons")
    async def buttons(self, interaction: discord.Interaction) -> None:
        """A message with buttons."""
        await interaction.response.send_message("please approve", view=ApproveView())

    @widget.command(name="select")
    async def select(self, interaction: discord.Interaction) -> None:
        """A select menu."""
        await interaction.response.send_message("choose", view=MethodSelect())

    @widget.command(name="modal")
    async def modal(self, interaction: discord.Interaction) -> None:
        """Opens a modal."""
        await interaction.response.send_modal(AnswerModal())

    @widget.command(name="file")
    @app_commands.describe(file="a text file", shout="upper-case it")
    async def file(
        self, interaction: discord.Interaction, file: discord.Attachment, shout: bool = False
    ) -> None:
        """Reads an attachment and sends it back as a file."""
        await interaction.response.defer(thinking=True)
        text = (await file.read()).decode()
        text = text.upper() if shout else text
        await interaction.edit_original_response(content=f"{len(text.splitlines())} lines")
        await interaction.followup.send(
            "here it is", file=discord.File(io.BytesIO(text.encode()), filename="echo.txt")
        )

    @widget.command(name="thread")
    async def thread(self, interaction: discord.Interaction) -> None:
        """Posts a message and opens a thread on it."""
        await interaction.response.send_message("opening a thread", ephemeral=True)
        message = await interaction.channel.send("Case study 1")
        thread = await message.create_thread(name="Discussion")
        await thread.send("Discuss here")
        await message.edit(content="Case study 1 (discussion open)")

    @widget.command(name="number")
    @app_commands.describe(n="between 1 and 5")
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="Greedy", value="greedy"),
            app_commands.Choice(name="Random", value="sampling"),
        ]
    )
    async def number(
        self,
        interaction: discord.Interaction,
        n: app_commands.Range[int, 1, 5],
        kind: str = "greedy",
    ) -> None:
        """Echoes typed options."""
        await interaction.response.send_message(f"{kind} x{n}")


async def setup(bot) -> None:
    await bot.add_cog(Widgets(bot))
