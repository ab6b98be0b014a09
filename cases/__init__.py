"""AI-ethics case studies: content files, posting and answer logic, export.

Knows neither Discord nor torch; the bot's case extension adapts it to Discord.
"""

from cases.loader import CaseFileError, load_case_file, load_cases, validate_case
from cases.model import CaseStudy, Source
from cases.questions import DEFAULT_QUESTIONS

__all__ = [
    "DEFAULT_QUESTIONS",
    "CaseFileError",
    "CaseStudy",
    "Source",
    "load_case_file",
    "load_cases",
    "validate_case",
]
