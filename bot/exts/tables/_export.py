"""A group's table as text: CSV and Markdown for export, compact blocks for Discord."""

from __future__ import annotations

import csv
import io

from bot.formatting import csv_cell
from bot.storage.tables import TableRow

DECODING_COLUMNS = [
    ("greedy", "Greedy"),
    ("beam", "5-Beam"),
    ("contrastive", "Contrastive"),
    ("sampling", "Random"),
]
FINETUNE_COLUMNS = [
    ("pretrained", "Pre-trained"),
    ("incontext", "In-context"),
    ("finetuned", "Fine-tuned"),
    ("version", "Fine-tuned version"),
    ("examples", "In-context examples"),
    ("perplexity", "Held-out perplexity (pre-trained → fine-tuned)"),
]
TITLES = {  # each table's heading, as the lab names it
    "decoding": "Decoding methods",
    "example": "Pre-trained vs fine-tuned on a built-in example",
    "finetune": "Pre-trained vs fine-tuned on your own sentences",
}
FILE_NAMES = {"decoding": "decoding", "example": "finetune-example", "finetune": "finetune-own"}
SETTINGS = ["Max tokens", "Seed"]  # after the columns: what tells two runs of a prompt apart
METHOD = "Method"  # fine-tune tables: the decoding method every column used


def columns_for(table: str) -> list[tuple[str, str]]:
    """(key, heading) pairs of a table's model columns."""
    if table == "decoding":
        return DECODING_COLUMNS
    if table == "example":
        return [*FINETUNE_COLUMNS[:4], ("dataset", "Example dataset"), *FINETUNE_COLUMNS[4:]]
    return FINETUNE_COLUMNS


def _value(row: TableRow, key: str) -> str:
    if key == "dataset":
        return row.example or ""
    return row.columns.get(key, "")


def settings_for(table: str) -> list[str]:
    """The settings' headings after a table's model columns."""
    return SETTINGS if table == "decoding" else [METHOD, *SETTINGS]


def settings_cells(row: TableRow, table: str) -> list[str]:
    """Max tokens and seed; blank where a row predates them; a seed it did not use is `none`."""
    method = [] if table == "decoding" else [row.columns.get("method", "")]
    if row.max_tokens is None:
        return [*method, "", ""]
    return [*method, str(row.max_tokens), "none" if row.seed is None else str(row.seed)]


def settings_line(row: TableRow) -> str:
    """`Greedy · max tokens 30 · seed 1234`, for the row in Discord."""
    if row.max_tokens is None:
        return "settings not recorded (saved before the bot kept them)"
    method = f"{row.columns['method']} · " if row.columns.get("method") else ""
    seed = "" if row.seed is None else f" · seed {row.seed}"
    return f"{method}max tokens {row.max_tokens}{seed}"


def _cells(row: TableRow, table: str) -> list[str]:
    return [
        row.prompt,
        *(_value(row, key) for key, _ in columns_for(table)),
        *settings_cells(row, table),
    ]


def to_csv(rows: list[TableRow], table: str) -> str:
    """Prompt, one column per method (or model), then the settings; formula-like cells are
    neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    headings = ["Prompt", *(heading for _, heading in columns_for(table)), *settings_for(table)]
    writer.writerow(headings)
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in _cells(row, table)])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", "<br>").strip()


def to_markdown(rows: list[TableRow], table: str, group: str) -> str:
    """A Markdown table, as the lab asks groups to fill in."""
    headings = ["Prompt", *(heading for _, heading in columns_for(table)), *settings_for(table)]
    lines = [
        f"# {group}: {TITLES[table]}",
        "",
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) for c in _cells(row, table)) + " |")
    return "\n".join(lines) + "\n"
