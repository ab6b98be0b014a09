"""Keeping the model runner's address and credentials out of replies and logs.

A runner URL may carry a user name and password (`http://user:pass@host`) or a token in its
query string. Students never see the address at all; instructors (and the logs) see a redacted
form: scheme, host and port, with any credentials, path and query replaced by `***`.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

URL = re.compile(r"https?://[^\s<>\"')]+", re.IGNORECASE)
HIDDEN = "***"


def redact_url(url: str) -> str:
    """`url` without user name, password, path, query or fragment (each shown as `***`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return HIDDEN
    if ":" in host:
        host = f"[{host}]"  # IPv6
    userinfo = f"{HIDDEN}@" if "@" in parts.netloc else ""
    path = f"/{HIDDEN}" if parts.path.strip("/") else ""
    query = f"?{HIDDEN}" if parts.query or parts.fragment else ""
    return f"{parts.scheme}://{userinfo}{host}{port}{path}{query}"


def scrub_urls(text: str, *, show: bool) -> str:
    """Every URL in `text` redacted (`show`, for instructors) or left out (for students)."""
    if show:
        return URL.sub(lambda match: redact_url(match[0]), text)
    text = re.sub(r"\s+at\s+" + URL.pattern, "", text, flags=re.IGNORECASE)
    return URL.sub("(address hidden)", text)


class RedactingFormatter(logging.Formatter):
    """Log lines (tracebacks included) with every URL redacted: an HTTP error's text names
    the address it tried, credentials and all."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub_urls(super().format(record), show=True)
