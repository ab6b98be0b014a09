"""One place that turns every command error into a short reply, and logs the real cause.

Expected errors (bad input, missing permission, cooldown, a busy runner) become a short
ephemeral message saying what to change, also when the command had already posted a public
"thinking…" placeholder. Anything unexpected is logged with its traceback
under a short error id, and the user gets an apology quoting that id.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.formatting import clip, for_log
from bot.redact import scrub_urls
from model_runner.protocol import RunnerBusy, RunnerError, RunnerUnavailable

log = logging.getLogger(__name__)
MAX_CONTENT = 2000  # Discord refuses a message with more characters than this
WARNING = "⚠️ "
OUT_OF_DATE = (
    "Your Discord shows an older version of this command. Reload Discord (Ctrl+R, or restart "
    "the app) and try again; if it keeps happening, tell your instructor (restarting the bot "
    "updates its commands)."
)


class LabError(app_commands.AppCommandError):
    """An error the user caused and can fix; its message is shown to them as it is."""


class NotInstructor(app_commands.CheckFailure):
    """The command is for instructors only."""

    def __init__(self) -> None:
        super().__init__("This command is for instructors only.")


def user_message(error: Exception) -> tuple[str, bool]:
    """The reply for `error`, and whether it was expected (no traceback needed)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, LabError | NotInstructor):
        return str(error), True
    if isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
        return OUT_OF_DATE, True
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s.", True
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server channel, not in direct messages.", True
    if isinstance(error, app_commands.MissingPermissions | app_commands.MissingAnyRole):
        return "You don't have permission to use this command.", True
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here.", True
    if isinstance(error, RunnerBusy):
        return (
            f"The model is busy with the class's requests: try again in {error.retry_after:.0f} s.",
            True,
        )
    if isinstance(error, RunnerUnavailable):
        return f"The model is not available right now: {error}", True
    if isinstance(error, RunnerError):
        return str(error), True
    return "", False


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Tell the user what went wrong (briefly) and log unexpected errors with an id."""
    message, expected = user_message(error)
    message = scrub_urls(message, show=_is_instructor(interaction))  # runner URL, credentials
    command = interaction.command.qualified_name if interaction.command else "component"
    if not expected:
        error_id = secrets.token_hex(4)
        log.error(
            "error %s in /%s (user %s, guild %s)",
            error_id,
            command,
            interaction.user.id,
            interaction.guild_id,
            exc_info=error,
        )
        message = (
            f"Sorry, something went wrong on our side (error id `{error_id}`). "
            "Please tell your instructor; the bot's log has the details."
        )
    else:
        # Messages may quote what the student typed: the log keeps a short, URL-free form.
        log.info(
            "/%s by %s: %s", command, interaction.user.id, for_log(scrub_urls(message, show=True))
        )
    # Listeners (the playground, metrics) learn which interactions ended in an error.
    interaction.client.dispatch("lab_command_error", interaction, message, expected)
    await send_ephemeral(interaction, message)


def _is_instructor(interaction: discord.Interaction) -> bool:
    """Instructors may see a redacted runner address in errors; students see none."""
    from bot.permissions import is_instructor  # bot.permissions imports this module

    try:
        return interaction.guild is not None and is_instructor(interaction)
    except Exception:  # noqa: BLE001 - no settings or member at hand: treat as a student
        return False


def fit(message: str, room: int = MAX_CONTENT) -> str:
    """`message` clipped to fit in one Discord message (with `room` characters)."""
    return clip(message, room)[0]


class LabCommandTree(app_commands.CommandTree):
    """The bot's command tree, with the shared error handler.

    Server-only commands are refused outside a server here too, not only by Discord: an
    older global registration (or a crafted interaction) must not let a student run a
    model or group command in a DM, past the channel rules, limits and group quota.
    Every command's options are checked against their declared types, choices and ranges
    (`bot.options`) before it runs, whatever a crafted interaction sends.
    """

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        command = interaction.command
        if interaction.guild_id is None and command is not None:
            # A context menu has no parent; a subcommand is server-only through its root.
            parent = command.root_parent if isinstance(command, app_commands.Command) else None
            if command.guild_only or (parent is not None and parent.guild_only):
                raise app_commands.NoPrivateMessage()
        if interaction.type is discord.InteractionType.application_command:
            from bot.options import check_options  # bot.options imports this module

            check_options(interaction)  # a forged option value never reaches a command
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)


class LabView(discord.ui.View):
    """Base for the bot's views: button and select errors get the same handling as commands."""

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await report_error(interaction, error)


class LabModal(discord.ui.Modal):
    """Base for the bot's modals, with the shared error handling."""

    # discord.py's Modal drops BaseView.on_error's `item` argument; its stubs say so too.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await report_error(interaction, error)


PLACEHOLDER_ENDED = "⚠️ That did not work: only you can see why."


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Reply privately, whether or not the interaction was already answered, even after a
    public "thinking…" placeholder. The reply is clipped to Discord's 2,000 characters: a
    longer one would be refused, leaving none."""
    if interaction.is_expired():
        log.warning("interaction %s expired before we could reply", interaction.id)
        return
    try:
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            await _private_after_public_placeholder(interaction, message)
        elif interaction.response.is_done():
            await interaction.followup.send(fit(message), ephemeral=True)
        else:
            await interaction.response.send_message(fit(message), ephemeral=True)
    except discord.HTTPException:
        log.exception("could not send an error reply for interaction %s", interaction.id)


async def _private_after_public_placeholder(interaction: discord.Interaction, message: str) -> None:
    """A private reply to a command that deferred publicly (most model commands do, before
    the runner can refuse a value only it can check, such as a layer the model lacks).

    Discord turns the first follow-up after a "thinking…" placeholder into that placeholder,
    public like it; once the placeholder has been edited, follow-ups keep their own
    visibility. So the placeholder is ended with a neutral line, the message goes out as a
    private follow-up, and the placeholder is deleted. Should the follow-up fail, the
    placeholder shows the message instead: public, but not lost.
    """
    await interaction.edit_original_response(
        content=PLACEHOLDER_ENDED, embed=None, attachments=[], view=None
    )
    try:
        await interaction.followup.send(fit(message), ephemeral=True)
    except discord.HTTPException:
        log.warning("interaction %s: no private follow-up; the error goes public", interaction.id)
        await interaction.edit_original_response(
            content=WARNING + fit(message, MAX_CONTENT - len(WARNING))
        )
        return
    try:
        await interaction.delete_original_response()
    except discord.HTTPException:
        log.warning("interaction %s: could not delete the ended placeholder", interaction.id)
