"""Case studies and answers as embeds and export files."""

from __future__ import annotations

import csv
import io
from urllib.parse import quote_plus

import discord

from bot.formatting import clip, csv_cell, safe
from bot.storage.answers import Revision

COLOUR = discord.Colour.from_rgb(235, 69, 158)


def case_embed(case) -> discord.Embed:
    """The case as students read it: summary, body, sources, questions."""
    embed = discord.Embed(title=case.title, description=clip(case.body, 3500)[0], colour=COLOUR)
    sources = "\n".join(source_line(s) for s in case.sources)
    if sources:
        embed.add_field(name="Sources", value=clip(sources, 1024)[0], inline=False)
    questions = "\n".join(f"**{n}.** {q}" for n, q in enumerate(case.questions, start=1))
    embed.add_field(name="Discussion questions", value=clip(questions, 1024)[0], inline=False)
    embed.set_footer(text=f"case: {case.id}")
    return embed


def source_line(source) -> str:
    """A linked title and its publisher. A work whose address is not on file (the lab page
    names some videos and an article without one) links a search for it instead, and says so:
    a video search on YouTube, anything else a web search, for its title and publisher."""
    title = clip(source.title, 90)[0]
    if source.url:
        return f"[{title}]({source.url})" + (f" ({source.publisher})" if source.publisher else "")
    details = ", ".join(part for part in (source.publisher, source.date) if part)
    return f"[{title}]({search_url(source)}) ({details + '; ' if details else ''}a search: no link on file)"


def search_url(source) -> str:
    """Where to find a source without an address: its title and publisher as a search."""
    words = source.title.removesuffix("(video)").strip()
    query = quote_plus(" ".join(part for part in (words, source.publisher) if part))
    if source.title.endswith("(video)"):
        return f"https://www.youtube.com/results?search_query={query}"
    return f"https://duckduckgo.com/?q={query}"


def answers_embeds(case, revisions: list[Revision], title: str) -> list[discord.Embed]:
    """One embed per group, a field per question (clipped; exports have the full text)."""
    by_group: dict[str, list[Revision]] = {}
    for revision in revisions:
        by_group.setdefault(revision.group_name, []).append(revision)
    embeds: list[discord.Embed] = []
    total = 0
    for group, items in by_group.items():
        heading = f"{title}: {group}"[:256]
        embed = discord.Embed(title=heading, colour=COLOUR)
        for item in items:
            text, _ = clip(item.text, 1000)
            embed.add_field(
                name=f"Question {item.question} (version {item.number})",
                value=safe(text),
                inline=False,
            )
        size = len(heading) + sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
        if len(embeds) == 10 or total + size > 5800:
            break  # Discord's limits per message; the export file has everything
        embeds.append(embed)
        total += size
    return embeds


def answers_csv(case, revisions: list[Revision], history: bool) -> str:
    """Latest answers (or every revision) as CSV; formula-like cells are neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["case", "group", "question_number", "question", "answer", "version", "saved_at"]
    writer.writerow(header + (["author", "author_id"] if history else []))
    for r in revisions:
        row = [
            case.id,
            r.group_name,
            r.question,
            case.questions[r.question - 1] if r.question <= len(case.questions) else "",
            r.text,
            r.number,
            r.created_at,
        ]
        if history:
            row += [r.author(), str(r.author_id) if r.author_id is not None else "(deleted)"]
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()


def answers_markdown(case, revisions: list[Revision], history: bool) -> str:
    """A readable document: each group, each question, its answer (and versions)."""
    lines = [f"# {case.title}", ""]
    group = None
    for r in revisions:
        if r.group_name != group:
            group = r.group_name
            lines += [f"## {group}", ""]
        question = case.questions[r.question - 1] if r.question <= len(case.questions) else ""
        heading = f"### Question {r.question}: {question}"
        if history:
            heading += f" (version {r.number}, {r.created_at}, by {r.author()})"
        lines += [heading, "", r.text, ""]
    return "\n".join(lines)


def export_files(case, revisions: list[Revision], history: bool) -> list[discord.File]:
    """CSV and Markdown attachments."""
    stem = f"{case.id}-{'history' if history else 'answers'}"
    return [
        discord.File(io.BytesIO(answers_csv(case, revisions, history).encode()), f"{stem}.csv"),
        discord.File(io.BytesIO(answers_markdown(case, revisions, history).encode()), f"{stem}.md"),
    ]
