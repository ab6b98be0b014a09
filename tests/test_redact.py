"""The runner's address as instructors and the logs see it: no credentials, path or query."""

from __future__ import annotations

import logging
import sys

import pytest

from bot.config import RunnerSettings, Settings, describe
from bot.redact import RedactingFormatter, redact_url, scrub_urls


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://gpu.example:8000", "http://gpu.example:8000"),
        ("http://user:pass@gpu.example:8000", "http://***@gpu.example:8000"),
        ("https://gpu.example/runner?token=abc", "https://gpu.example/***?***"),
        ("http://[::1]:9000/", "http://[::1]:9000"),
    ],
)
def test_redacted_urls_keep_only_where_the_runner_is(url, shown):
    assert redact_url(url) == shown


def test_students_see_no_address_at_all():
    text = "the model runner at http://u:p@host:1 did not answer (ClientError)"
    assert scrub_urls(text, show=False) == "the model runner did not answer (ClientError)"
    assert scrub_urls("see https://x.example/a?k=1", show=False) == "see (address hidden)"


def test_log_lines_and_tracebacks_are_redacted():
    formatter = RedactingFormatter("%(message)s")
    try:
        raise OSError("cannot reach http://bot:s3cret@runner:8000/?token=t0k")
    except OSError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "s3cret" not in text and "t0k" not in text and "http://***@runner:8000" in text


def test_check_config_does_not_print_credentials():
    settings = Settings(runner=RunnerSettings(url="http://bot:s3cret@runner:8000"))
    shown = dict(describe(settings))
    assert not any("s3cret" in value for value in shown.values())
