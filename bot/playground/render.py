"""Show the bot's messages readably in a terminal, and save their files to a folder."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from bot.formatting import file_size
from discord_emulator.world import Message, walk_components

BUTTON_STYLES = {1: "", 2: "", 3: "+", 4: "!", 5: "link "}


def _markdown(text: str) -> str:
    """Discord markdown as plain text: bold and italics markers removed, backslash escapes
    shown as the characters they protect (Discord shows `\\*` as `*`)."""
    text = re.sub(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*", r"\1", text, flags=re.S)
    text = re.sub(r"(?<![\w\\])_(.+?)(?<!\\)_(?!\w)", r"\1", text)
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def shown_text(message: Message) -> str:
    """The message's text as the transcript shows it (markdown stripped), for `wait for`."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
        parts.append((embed.get("footer") or {}).get("text") or "")
    return "\n".join(_markdown(p) for p in parts if p)


def _indent(text: str, prefix: str = "  ") -> str:
    return textwrap.indent(_markdown(text), prefix)


def render_message(message: Message, out_dir: Path | None, who: str | None = None) -> str:
    """One message as text: content, embeds, components, and the paths of saved files.

    `who` is the heading's text (by default `bot`, and who can see an ephemeral message)."""
    lines = []
    if who is None:
        who = "bot (only you can see this)" if message.ephemeral else "bot"
    lines.append(f"[{who}]" + (" (edited)" if message.edits else ""))
    if message.content:
        lines.append(_indent(message.content))
    for embed in message.embeds:
        if embed.get("title"):
            lines.append(f"  == {_markdown(embed['title'])} ==")
        if embed.get("description"):
            lines.append(_indent(embed["description"], "  | "))
        for field in embed.get("fields") or []:
            value = _markdown(field["value"])
            if "\n" in value or len(value) > 60:
                lines.append(f"  | {_markdown(field['name'])}:")
                lines.append(textwrap.indent(value, "  |   "))
            else:
                lines.append(f"  | {_markdown(field['name'])}: {value}")
        if embed.get("image"):
            lines.append(f"  | (image: {embed['image'].get('url', '')})")
        footer = (embed.get("footer") or {}).get("text")
        if footer:
            lines.append(f"  -- {_markdown(footer)}")
    controls = []
    for component in walk_components(message.components):
        if component.get("type") == 2:
            style = BUTTON_STYLES.get(component.get("style", 2), "")
            off = " (disabled)" if component.get("disabled") else ""
            controls.append(f"[{style}{component.get('label') or component.get('emoji', '')}]{off}")
        elif component.get("type") == 3:
            options = " | ".join(o["label"] for o in component.get("options") or [])
            controls.append(f"<select {component.get('placeholder') or ''}: {options}>")
    if controls:
        lines.append("  " + " ".join(controls))
    for upload in message.files:
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{message.id}-{upload.filename}"
            path.write_bytes(upload.data)
            lines.append(
                f"  (file {upload.filename}, {file_size(len(upload.data))}, saved to {path})"
            )
        else:
            lines.append(f"  (file {upload.filename}, {file_size(len(upload.data))})")
    return "\n".join(lines)


def modal_fields(modal: dict) -> list[tuple[str, str]]:
    """(custom id, label as Discord shows it) of each text field of a modal."""
    fields = []
    for component in walk_components(modal.get("components") or []):
        inner = component.get("component")
        if component.get("type") == 18 and isinstance(inner, dict) and inner.get("type") == 4:
            fields.append((inner["custom_id"], component.get("label", "")))
        elif component.get("type") == 4 and component.get("label"):
            fields.append((component["custom_id"], component["label"]))
    return fields


def modal_hint(labels: list[str]) -> str:
    """`modal "Group 1's answer":"..."`: the line that fills these fields."""
    return "modal " + " ".join(
        f'"{label}":"..."' if " " in label or "'" in label else f'{label}:"..."' for label in labels
    )


def render_modal(modal: dict) -> str:
    """A modal the bot opened, with its field labels, so the user knows what to type."""
    labels = [label for _, label in modal_fields(modal)]
    return f"[bot opened a form: {modal.get('title', '')}]\n  answer with: {modal_hint(labels)}"
