"""The discussion questions every case shares unless its file gives its own.

They follow the lab's four shared questions, reworded for a Discord thread where each group
posts one answer per question.
"""

from __future__ import annotations

DEFAULT_QUESTIONS: tuple[str, ...] = (
    "What is morally at stake in this case? Say who bears the costs, who gains from it, and "
    "whether your group thinks that balance can be defended.",
    "Can AI companies be trusted to police themselves here, or does this need rules and "
    "oversight from outside the industry (governments, regulators, independent auditors)?",
    "Ask an LLM of your choice what else is known about this issue beyond the case text. Pick "
    "one claim it makes and check it with a search engine: did it hold up, and where did you "
    "find the evidence?",
    "Where is your own line? Describe what you would need to learn about how an AI tool is "
    "built or run before you stopped using it.",
)
