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
]


def columns_for(kind: str) -> list[tuple[str, str]]:
    """(key, heading) pairs of a table kind."""
    return DECODING_COLUMNS if kind == "decoding" else FINETUNE_COLUMNS


def to_csv(rows: list[TableRow], kind: str) -> str:
    """Prompt and one column per method (or model); formula-like cells are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = columns_for(kind)
    writer.writerow(["Prompt", *(heading for _, heading in columns)])
    for row in rows:
        cells = [row.prompt, *(row.columns.get(key, "") for key, _ in columns)]
        writer.writerow([csv_cell(cell) for cell in cells])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", "<br>").strip()


def to_markdown(rows: list[TableRow], kind: str, group: str) -> str:
    """A Markdown table, as the lab asks groups to fill in."""
    columns = columns_for(kind)
    headings = ["Prompt", *(heading for _, heading in columns)]
    title = "Decoding methods" if kind == "decoding" else "Pre-trained vs fine-tuned"
    lines = [
        f"# {group}: {title}",
        "",
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
    ]
    for row in rows:
        cells = [row.prompt, *(row.columns.get(key, "") for key, _ in columns)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
