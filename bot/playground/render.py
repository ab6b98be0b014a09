"""Show the bot's messages readably in a terminal, and save their files to a folder."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from bot.formatting import file_size
from discord_emulator.world import Message, walk_components

BUTTON_STYLES = {1: "", 2: "", 3: "+", 4: "!", 5: "link "}


def _markdown(text: str) -> str:
    """Keep Discord markdown legible in plain text (bold/italics markers removed)."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text, flags=re.S)
    return re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)


def _indent(text: str, prefix: str = "  ") -> str:
    return textwrap.indent(_markdown(text), prefix)


def render_message(message: Message, out_dir: Path | None) -> str:
    """One message as text: content, embeds, components, and the paths of saved files."""
    lines = []
    who = "bot (only you can see this)" if message.ephemeral else "bot"
    lines.append(f"[{who}]" + (" (edited)" if message.edits else ""))
    if message.content:
        lines.append(_indent(message.content))
    for embed in message.embeds:
        if embed.get("title"):
            lines.append(f"  == {embed['title']} ==")
        if embed.get("description"):
            lines.append(_indent(embed["description"], "  | "))
        for field in embed.get("fields") or []:
            value = _markdown(field["value"])
            if "\n" in value or len(value) > 60:
                lines.append(f"  | {field['name']}:")
                lines.append(_indent(value, "  |   "))
            else:
                lines.append(f"  | {field['name']}: {value}")
        if embed.get("image"):
            lines.append(f"  | (image: {embed['image'].get('url', '')})")
        footer = (embed.get("footer") or {}).get("text")
        if footer:
            lines.append(f"  -- {footer}")
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


def render_modal(modal: dict) -> str:
    """A modal the bot opened, with its field labels, so the user knows what to type."""
    labels = []
    for component in walk_components(modal.get("components") or []):
        if component.get("type") == 18:
            labels.append(component.get("label", ""))
        elif component.get("type") == 4 and component.get("label"):
            labels.append(component["label"])
    fields = " ".join(
        f'"{label}":"..."' if " " in label or "'" in label else f'{label}:"..."' for label in labels
    )
    return f"[bot opened a form: {modal.get('title', '')}]\n  answer with: modal {fields}"
