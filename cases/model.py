"""What a case study is: the text groups read, the works it cites, the questions they discuss.

Both types are frozen so that a loaded case can be shared between servers and threads; the
loader (`cases.loader`) is the only place that builds them from files or instructors' forms.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A published work that a case study draws on, listed (as a link where known) under it."""

    title: str  # the work's title, as its publisher gives it
    url: str = ""  # http(s) link to the work itself; "" when no link is known (never a home page)
    publisher: str = ""  # who published it: a newspaper, journal, university, agency
    date: str = ""  # when it was published, as people write it: "July 2025", "9 October 2025"

    def label(self) -> str:
        """The title followed by publisher and date where known, for a one-line citation."""
        details = ", ".join(part for part in (self.publisher, self.date) if part)
        return f"{self.title} ({details})" if details else self.title


@dataclass(frozen=True)
class CaseStudy:
    """Something a group reads and answers questions on in a thread.

    Most are AI-ethics case studies (`kind` "ethics"); the lab's tasks 1 to 4 each end with
    discussion questions too, and those are posted the same way with `kind` "lab-task".
    """

    id: str  # short stable name used in commands and the database, e.g. `environmental-impact`
    title: str  # heading shown on the case's post (1-200 characters)
    summary: str  # one or two sentences shown in lists and menus (1-300 characters)
    body: str  # Markdown explanation of the issue; fits one Discord embed (1-3500 characters)
    sources: tuple[Source, ...]  # the works the body cites, in the order it cites them
    questions: tuple[str, ...]  # what groups discuss; the four shared questions unless set
    origin: str = (
        "builtin"  # where it came from: `builtin`, `folder` (instructor files) or `server`
    )
    kind: str = "ethics"  # `ethics` (a lab case study) or `lab-task` (a task's discussion)


KINDS = ("ethics", "lab-task")  # the values `CaseStudy.kind` may take
