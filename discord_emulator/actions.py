"""Acting as a Discord user: run slash commands, click buttons, pick options, fill modals.

Each action builds the INTERACTION_CREATE that Discord's client would send, refusing input
the client itself would not allow (a missing required option, a value outside a choice list
or range, modal text over its max length), dispatches it over the gateway, and waits until
the bot has finished answering. The result is the `Interaction` record with every message.
`Actor.forge` sends a hand-crafted slash command instead, with no client-side checks.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from discord_emulator import contract
from discord_emulator.world import Interaction, Member, Message, Upload, walk_components

if TYPE_CHECKING:
    from discord_emulator.server import DiscordEmulator

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5


class ActionError(Exception):
    """The action is impossible in Discord's client (or the bot never answered)."""


@dataclass
class Reply:
    """What the bot did with one interaction."""

    interaction: Interaction
    emulator: DiscordEmulator

    @property
    def messages(self) -> list[Message]:
        """Original response and follow-ups."""
        return self.interaction.messages()

    @property
    def message(self) -> Message | None:
        """The last message of this interaction (or the updated source message)."""
        if self.interaction.response_type in (6, 7) and self.interaction.source_message_id:
            return self.emulator.messages[self.interaction.source_message_id]
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def text(self) -> str:
        """All text the user sees from this interaction."""
        return "\n".join(text for text in (m.text() for m in self.messages) if text)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened, if it answered with one."""
        return self.interaction.modal

    @property
    def ephemeral(self) -> bool:
        return bool(self.messages) and all(m.ephemeral for m in self.messages)


class Actor:
    """One emulated user in the guild, acting in one channel."""

    def __init__(self, emulator: DiscordEmulator, member: Member, channel_id: int) -> None:
        self.emu = emulator
        self.member = member
        self.channel_id = channel_id
        self.timeout_s = 120.0

    def in_channel(self, name: str) -> Actor:
        """The same user acting in another channel (or thread)."""
        channel = self.emu.guild.channel_named(name)
        if channel is None:
            raise ActionError(f"no channel named {name!r}")
        return Actor(self.emu, self.member, channel.id)

    # --- slash commands ------------------------------------------------------------------

    async def slash(
        self,
        command: str,
        *,
        files: dict[str, Upload] | None = None,
        wait: bool = True,
        **options: Any,
    ) -> Reply:
        """Run `/command [sub [subsub]]` with options, e.g. `slash("table show")`."""
        data, _ = self._command_data(command, options, files or {})
        interaction = self.emu.new_interaction(APPLICATION_COMMAND, self.member.id, self.channel_id)
        return await self._dispatch(interaction, data, wait=wait)

    async def autocomplete(
        self, command: str, option: str, typed: str = "", **options: Any
    ) -> list[dict[str, Any]]:
        """Type `typed` into `option` of `/command` and return the choices the bot offers."""
        data, target = self._command_data(command, options, {}, partial=True)
        spec = next((o for o in self._leaf(command)["options"] or [] if o["name"] == option), None)
        if spec is None or not spec.get("autocomplete"):
            raise ActionError(f"/{command}: option {option!r} has no autocomplete")
        target["options"].append(
            {"name": option, "type": spec["type"], "value": typed, "focused": True}
        )
        interaction = self.emu.new_interaction(AUTOCOMPLETE, self.member.id, self.channel_id)
        await self._dispatch(interaction, data)
        if interaction.response_type != 8:
            raise ActionError(
                f"/{command}: the bot answered autocomplete with type {interaction.response_type}"
            )
        return list(interaction.choices or [])

    async def forge(
        self,
        command: str,
        options: list[dict[str, Any]],
        *,
        resolved: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Reply:
        """Send `/command` with `options` exactly as given, as a hand-crafted interaction.

        A modified client or a script can put anything in an interaction's `data.options`:
        values outside the choices or range, wrong JSON types, a required option left out, an
        option the command does not have. `options` are raw option objects
        (`{"name": ..., "type": ..., "value": ...}`) for the innermost (sub)command; nothing is
        checked or converted, and `resolved` goes along unchanged. The command and its
        subcommands must still be registered (Discord routes by them). Use `slash` for what a
        normal client sends.
        """
        data, target = self._command_data(command, {}, {}, partial=True)
        target["options"] = list(options)
        if resolved is not None:
            data["resolved"] = resolved
        interaction = self.emu.new_interaction(APPLICATION_COMMAND, self.member.id, self.channel_id)
        return await self._dispatch(interaction, data, wait=wait)

    def prepare(
        self, command: str, *, files: dict[str, Upload] | None = None, **options: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The raw options and `resolved` data a normal client sends for `slash(...)`, checked
        the same way: a starting point for a test to alter and pass to `forge`."""
        data, target = self._command_data(command, options, files or {})
        return target["options"], data.get("resolved")

    def _leaf(self, command: str) -> dict[str, Any]:
        """The registered (sub)command that `command` names."""
        words = command.lstrip("/").split()
        node = self._registered(words[0])
        for word in words[1:]:
            node = next(o for o in node.get("options") or [] if o["name"] == word)
        return node

    def _command_data(
        self,
        command: str,
        options: dict[str, Any],
        files: dict[str, Upload],
        partial: bool = False,  # autocomplete: the user is still typing, required may be missing
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The interaction's `data` for `/command` with options, and its innermost level."""
        words = command.lstrip("/").split()
        registered = self._registered(words[0])
        data = {
            "id": registered["id"],
            "name": registered["name"],
            "type": 1,
            "guild_id": str(self.emu.guild.id),
        }
        resolved: dict[str, Any] = {}
        node = registered
        target = data
        for word in words[1:]:
            sub = next(
                (
                    o
                    for o in node.get("options") or []
                    if o["name"] == word and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
                ),
                None,
            )
            if sub is None:
                raise ActionError(f"/{' '.join(words)}: no subcommand {word!r}")
            child = {"name": word, "type": sub["type"], "options": []}
            target.setdefault("options", []).append(child)
            node, target = sub, child
        if any(o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in node.get("options") or []):
            raise ActionError(f"/{' '.join(words)} needs a subcommand")
        target["options"] = self._options(command, node, options, files, resolved, partial)
        if resolved:
            data["resolved"] = resolved
        return data, target

    def _registered(self, name: str) -> dict[str, Any]:
        for scope in (f"guild:{self.emu.guild.id}", "global"):
            command = self.emu.commands.get(scope, {}).get(name)
            if command is not None:
                return command
        raise ActionError(f"/{name} is not registered with Discord")

    def _options(
        self,
        command: str,
        node: dict,
        given: dict[str, Any],
        files: dict[str, Upload],
        resolved: dict[str, Any],
        partial: bool = False,
    ) -> list[dict[str, Any]]:
        specs = {o["name"]: o for o in node.get("options") or []}
        unknown = set(given) - set(specs)
        if unknown:
            raise ActionError(f"/{command} has no option {sorted(unknown)[0]!r}")
        out = []
        for name, spec in specs.items():
            if name not in given or given[name] is None:
                if spec.get("required") and not partial:
                    raise ActionError(f"/{command}: option {name!r} is required")
                continue
            value = self._option_value(command, spec, given[name], files, resolved)
            out.append({"name": name, "type": spec["type"], "value": value})
        return out

    def _option_value(self, command, spec, value, files, resolved):
        kind, name = spec["type"], spec["name"]
        if kind == ATTACHMENT:
            upload = value if isinstance(value, Upload) else files.get(value)
            if upload is None:
                raise ActionError(f"/{command}: option {name!r} needs a file")
            attachment = self.emu.store_upload(upload)
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return attachment["id"]
        if kind in (USER, MENTIONABLE):
            member = self.emu.add_member(value) if isinstance(value, str) else value
            resolved.setdefault("users", {})[str(member.id)] = member.user
            resolved.setdefault("members", {})[str(member.id)] = {
                k: v for k, v in member.payload().items() if k != "user"
            } | {"permissions": str(self.emu.guild.member_permissions(member))}
            return str(member.id)
        if kind == ROLE:
            role = self.emu.add_role(value)
            resolved.setdefault("roles", {})[str(role.id)] = role.payload()
            return str(role.id)
        if kind == CHANNEL:
            channel = self.emu.guild.channel_named(value)
            if channel is None:
                raise ActionError(f"/{command}: no channel named {value!r}")
            resolved.setdefault("channels", {})[str(channel.id)] = {
                **channel.payload(),
                "permissions": str((1 << 53) - 1),
            }
            return str(channel.id)
        return _check_scalar(command, spec, value)

    # --- components and modals ----------------------------------------------------------

    def last_message(self, predicate=None) -> Message:
        """The newest bot message in this channel that this user can see."""
        for message_id in reversed(self.emu.channel_messages.get(self.channel_id, [])):
            message = self.emu.messages[message_id]
            if message.payload.get("deleted"):
                continue
            if message.ephemeral:
                owner = self.emu.interactions.get(message.interaction_id or 0)
                if owner is None or owner.user_id != self.member.id:
                    continue
            if predicate is None or predicate(message):
                return message
        raise ActionError("no bot message to act on in this channel")

    async def click(self, label: str, *, message: Message | None = None) -> Reply:
        """Click the button labelled `label` (on the newest message that has it)."""
        try:
            target = message or self.last_message(
                lambda m: m.find_component(label=label) is not None
            )
        except ActionError:
            raise ActionError(f"no button labelled {label!r} on the bot's messages here") from None
        button = target.find_component(label=label)
        if button is None or button.get("type") != 2:
            raise ActionError(f"no button labelled {label!r}")
        if button.get("disabled"):
            raise ActionError(f"the button {label!r} is disabled")
        if "custom_id" not in button:
            raise ActionError(f"the button {label!r} is a link, not something the bot handles")
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._component(target, data)

    async def select(
        self, values: list[str], *, placeholder: str | None = None, message: Message | None = None
    ) -> Reply:
        """Pick `values` (option values or labels) in a select menu."""

        def is_select(component):
            return component.get("type") == 3 and (
                placeholder is None or component.get("placeholder") == placeholder
            )

        target = message or self.last_message(
            lambda m: any(is_select(c) for c in walk_components(m.components))
        )
        menu = next(c for c in walk_components(target.components) if is_select(c))
        options = {o["label"]: o["value"] for o in menu.get("options") or []}
        chosen = [options.get(v, v) for v in values]
        if any(v not in options.values() for v in chosen):
            raise ActionError(f"select options are {sorted(options)}; got {values}")
        low, high = menu.get("min_values", 1), menu.get("max_values", 1)
        if not low <= len(chosen) <= high:
            raise ActionError(f"pick between {low} and {high} options")
        data = {"custom_id": menu["custom_id"], "component_type": 3, "values": chosen}
        return await self._component(target, data)

    async def _component(self, message: Message, data: dict[str, Any]) -> Reply:
        interaction = self.emu.new_interaction(MESSAGE_COMPONENT, self.member.id, self.channel_id)
        interaction.source_message_id = message.id
        return await self._dispatch(interaction, data, message=message.payload)

    async def submit_modal(
        self, fields: dict[str, str], *, modal: dict[str, Any] | None = None
    ) -> Reply:
        """Fill the newest modal the bot opened for this user; keys are labels or custom ids."""
        if modal is None:
            opened = [
                i.modal
                for i in self.emu.interactions.values()
                if i.user_id == self.member.id and i.modal is not None
            ]
            if not opened:
                raise ActionError("the bot has not opened a modal for this user")
            modal = opened[-1]
        rows = []
        inputs = [c for c in walk_components(modal.get("components") or []) if c.get("type") == 4]
        labels = _modal_labels(modal)
        parents = _input_parents(modal)
        for text_input in inputs:
            keys = {
                text_input["custom_id"],
                text_input.get("label"),
                labels.get(text_input["custom_id"]),
            }
            value = next((fields[k] for k in keys if k in fields), None)
            if value is None:
                if text_input.get("required", True) and not text_input.get("value"):
                    raise ActionError(
                        f"modal field {text_input.get('label') or text_input['custom_id']!r} is required"
                    )
                value = text_input.get("value") or ""
            max_length = text_input.get("max_length", 4000)
            if len(value) > max_length:
                raise ActionError(
                    f"modal field allows at most {max_length} characters; got {len(value)}"
                )
            if value and len(value) < text_input.get("min_length", 0):
                raise ActionError(
                    f"modal field needs at least {text_input['min_length']} characters"
                )
            submitted = {"type": 4, "custom_id": text_input["custom_id"], "value": value}
            if "id" in text_input:  # the number Discord gave the input when the modal opened
                submitted["id"] = text_input["id"]
            # Discord answers in the modal's own layout, each wrapper with its id.
            wrapper = parents.get(text_input["custom_id"], {})
            if text_input["custom_id"] in labels:  # inside a Label
                row: dict[str, Any] = {"type": 18, "component": submitted}
            else:
                row = {"type": 1, "components": [submitted]}
            if "id" in wrapper:
                row["id"] = wrapper["id"]
            rows.append(row)
        interaction = self.emu.new_interaction(MODAL_SUBMIT, self.member.id, self.channel_id)
        return await self._dispatch(
            interaction, {"custom_id": modal["custom_id"], "components": rows}
        )

    # --- dispatch and wait ----------------------------------------------------------------

    async def _dispatch(
        self,
        interaction: Interaction,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        wait: bool = True,
    ) -> Reply:
        emu = self.emu
        member = self.member
        permissions = emu.guild.member_permissions(member)
        payload = {
            "id": str(interaction.id),
            "application_id": str(emu.application_id),
            "type": interaction.type,
            "data": data,
            "guild_id": str(emu.guild.id),
            "guild": {"id": str(emu.guild.id), "locale": "en-GB", "features": []},
            "channel_id": str(interaction.channel_id),
            "channel": emu.guild.channels[interaction.channel_id].payload(),
            "member": {**member.payload(), "permissions": str(permissions)},
            "token": interaction.token,
            "version": 1,
            "app_permissions": str((1 << 53) - 1),
            "locale": "en-GB",
            "guild_locale": "en-GB",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(emu.guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        await emu.flush_events()
        interaction.created = emu.now()
        await emu.gateway.dispatch("INTERACTION_CREATE", payload)
        reply = Reply(interaction, emu)
        if wait:
            await wait_until_settled(emu, interaction, self.timeout_s)
        return reply


def _check_scalar(command: str, spec: dict[str, Any], value: Any) -> Any:
    kind, name = spec["type"], spec["name"]
    if isinstance(value, str) and kind in (INTEGER, NUMBER, BOOLEAN):
        value = _parse_typed(command, name, kind, value)  # typed as text, as in the client
    if kind == STRING:
        value = str(value)
        if not spec.get("min_length", 0) <= len(value) <= spec.get("max_length", 6000):
            raise ActionError(
                f"/{command}: {name!r} must have {spec.get('min_length', 0)}-"
                f"{spec.get('max_length', 6000)} characters"
            )
    elif kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(f"/{command}: {name!r} must be a whole number")
    elif kind == NUMBER:
        value = float(value)
    elif kind == BOOLEAN and not isinstance(value, bool):
        raise ActionError(f"/{command}: {name!r} must be true or false")
    if kind in (INTEGER, NUMBER):
        low, high = spec.get("min_value"), spec.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ActionError(f"/{command}: {name!r} must be between {low} and {high}")
    choices = spec.get("choices")
    if choices:
        by_name = {c["name"]: c["value"] for c in choices}
        value = by_name.get(value, value)
        if value not in by_name.values():
            raise ActionError(f"/{command}: {name!r} must be one of {sorted(by_name)}")
    return value


def _parse_typed(command: str, name: str, kind: int, text: str) -> Any:
    try:
        if kind == INTEGER:
            return int(text)
        if kind == NUMBER:
            return float(text)
    except ValueError:
        what = "a whole number" if kind == INTEGER else "a number"
        raise ActionError(f"/{command}: {name!r} must be {what}") from None
    if text.lower() in ("true", "yes"):
        return True
    if text.lower() in ("false", "no"):
        return False
    raise ActionError(f"/{command}: {name!r} must be true or false")


def _modal_labels(modal: dict[str, Any]) -> dict[str, str]:
    """custom_id -> label for text inputs wrapped in Label components (type 18)."""
    labels = {}
    for component in walk_components(modal.get("components") or []):
        inner = component.get("component")
        if component.get("type") == 18 and isinstance(inner, dict) and "custom_id" in inner:
            labels[inner["custom_id"]] = component.get("label", "")
    return labels


def _input_parents(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """custom_id of each text input -> the row or Label that holds it."""
    parents = {}
    for component in walk_components(modal.get("components") or []):
        children = list(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            children.append(component["component"])
        for child in children:
            if child.get("type") == 4 and "custom_id" in child:
                parents[child["custom_id"]] = component
    return parents


async def wait_until_settled(
    emu: DiscordEmulator, interaction: Interaction, timeout_s: float, quiet_s: float = 0.25
) -> None:
    """Wait until the bot answered and, if it deferred, delivered; then a short quiet spell."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s

    def delivered() -> bool:
        kind = interaction.response_type
        if kind is None:
            return False
        if kind == 5:
            original = interaction.original
            # A message starting with ⏳ is progress: the bot's convention for "still working".
            done = (
                original is not None
                and original.edits > 0
                and not original.content.startswith("⏳")
            )
            return bool(interaction.followups) or done
        if kind == 6:
            source = emu.messages.get(interaction.source_message_id or 0)
            edited = source is not None and source.edits > 0
            # A deferred update may legitimately change nothing; give it a moment.
            waited = emu.now() - (interaction.responded_at or emu.now()) > 1.5
            return bool(interaction.followups) or edited or waited
        return True

    while not delivered():
        remaining = deadline - loop.time()
        # Discord forgets an interaction nobody acknowledged within 3 s ("This interaction
        # failed" for the user); waiting longer for it only hides the failure.
        unanswered_s = emu.now() - interaction.created
        if interaction.response_type is None and unanswered_s > contract.FIRST_RESPONSE_S + 0.5:
            raise ActionError(
                f"the bot never answered within {contract.FIRST_RESPONSE_S:.0f} s "
                "(Discord shows the user 'This interaction failed')"
            )
        if remaining <= 0:
            state = (
                "never answered"
                if interaction.response_type is None
                else "deferred but never delivered"
            )
            raise ActionError(f"the bot {state} within {timeout_s:.0f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(emu.activity.wait(), timeout=min(remaining, 0.5))
    # Let trailing edits and follow-ups land: with the bot in this event loop, until its
    # interaction handlers have returned (every request they made has been answered), then a
    # few milliseconds; with the bot elsewhere, until `quiet_s` passes with no activity.
    in_process = emu.bot_in_process
    while True:
        before = emu.now()
        if in_process:
            while _handlers_running() and loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(emu.activity.wait(), timeout=0.05)
        await asyncio.sleep(0.02 if in_process else quiet_s)
        if interaction.last_activity < before or loop.time() > deadline:
            return


# The tasks discord.py runs an interaction's handler in (commands, autocomplete, components,
# forms, `on_interaction` listeners).
_HANDLER_TASKS = (
    "CommandTree-invoker",
    "discord-ui-view-dispatch-",
    "discord-ui-modal-dispatch-",
    "discord-ui-dynamic-item-",
    "discord.py: on_interaction",
)


def _handlers_running() -> bool:
    current = asyncio.current_task()
    return any(
        task is not current and not task.done() and task.get_name().startswith(_HANDLER_TASKS)
        for task in asyncio.all_tasks()
    )
