"""The class's closed votes as files: CSV (one row per vote and method) and Markdown.

Only closed votes are exported: an open vote's letters must stay unlabelled. No ballot
names its voter here; a student's own ballots are in their /privacy export.
"""

from __future__ import annotations

import csv
import io

from bot.exts.vote._render import method_name, verdict_line
from bot.exts.vote._tally import MethodResult, winners
from bot.formatting import csv_cell
from bot.storage.votes import ClassVote

HEADINGS = [
    "Vote",
    "Prompt",
    "Letter",
    "Method",
    "Output",
    "Votes",
    "Share",
    "Winner",
    "Voters",
    "Max tokens",
    "Seed",
    "Model",
    "Source",
    "Closed at",
]


def _rows(vote: ClassVote) -> list[list[str]]:
    top = winners(vote.tally)
    rows = []
    for method in vote.letters:
        votes = vote.tally.get(method, 0)
        rows.append(
            [
                str(vote.number),
                vote.prompt,
                vote.letter_of(method),
                method_name(method),
                vote.outputs[method],
                str(votes),
                f"{votes / vote.voters:.2f}" if vote.voters else "",
                ("tie" if len(top) > 1 else "yes") if method in top else "",
                str(vote.voters),
                str(vote.max_tokens),
                "none" if vote.seed is None else str(vote.seed),
                vote.model,
                vote.source,
                vote.closed_at or "",
            ]
        )
    return rows


def to_csv(votes: list[ClassVote]) -> str:
    """One row per vote and method, in the letters' order; formula-like cells neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADINGS)
    for vote in votes:
        for row in _rows(vote):
            writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", "<br>").strip()


def to_markdown(votes: list[ClassVote], results: list[MethodResult]) -> str:
    """The class's tally per method, then each vote's table."""
    total = sum(r.votes for r in results)
    lines = [
        "# The class's votes: which decoding method is the most coherent?",
        "",
        verdict_line(results, len(votes)).replace("**", ""),
        "",
        "| Method | Votes | Share | Prompts won | Shared first |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {method_name(r.method)} | {r.votes} | {r.share(total):.0%} | {r.won} | {r.shared} |"
        )
    for vote in votes:
        lines += [
            "",
            f"## Vote {vote.number}: {_cell(vote.prompt)}",
            "",
            "| Letter | Method | Output | Votes | Winner |",
            "|---|---|---|---|---|",
        ]
        for row in _rows(vote):
            lines.append(f"| {row[2]} | {row[3]} | {_cell(row[4])} | {row[5]} | {row[7]} |")
    return "\n".join(lines) + "\n"
