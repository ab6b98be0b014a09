"""The lab's four built-in cases: they load, fit Discord, cite real links, stay package-pure."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import quote_plus, urlsplit

import pytest

from bot.exts.cases._render import source_line
from cases.loader import LAB_ORDER, load_case_file, load_cases
from cases.questions import DEFAULT_QUESTIONS

BUILTIN_IDS = (
    "environmental-impact",
    "data-labelling-labour",
    "copyright-training-data",
    "fine-tuning-toxicity",
)
CONTENT = Path(str(resources.files("cases") / "content"))


def test_the_four_lab_cases_load_in_lab_order():
    found = load_cases()
    assert tuple(case.id for case in found) == BUILTIN_IDS == LAB_ORDER
    assert {case.origin for case in found} == {"builtin"}


@pytest.mark.parametrize("case_id", BUILTIN_IDS)
def test_each_file_validates_on_its_own(case_id):
    case = load_case_file(CONTENT / f"{case_id}.toml", origin="builtin")
    assert case == next(c for c in load_cases() if c.id == case_id)


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.id)
def test_case_fits_discord_and_cites_its_sources(case):
    assert 1 <= len(case.title) <= 200
    assert 1 <= len(case.summary) <= 300
    assert 1 <= len(case.body) <= 3500  # one embed description (Discord allows 4096)
    assert case.sources, "every built-in case cites at least one source"
    for source in case.sources:
        if source.url:  # a link goes to the work itself, never to the publisher's home page
            assert source.url.startswith(("https://", "http://")), source.url
            assert urlsplit(source.url).path.strip("/"), f"{source.url} is a home page"
        assert source.title and source.publisher and source.label().startswith(source.title)
    if case.questions != DEFAULT_QUESTIONS:
        assert 1 <= len(case.questions) <= 10
    else:
        assert len(case.questions) == 4


# The lab page's videos, each in the case it belongs to: (case, publisher, date, title words).
# The lab page gives no address for them (nor for the 9News article), so none is invented.
LAB_VIDEOS = [
    ("environmental-impact", "CGTN America", "November 2025", "Environmental Impacts"),
    ("data-labelling-labour", "DW Shift", "January 2023", "Data Labelling"),
    ("copyright-training-data", "EDUCAUSE", "July 2024", "AI and Copyright"),
]


@pytest.mark.parametrize(("case_id", "publisher", "date", "words"), LAB_VIDEOS)
def test_each_lab_video_is_a_source_of_its_case(case_id, publisher, date, words):
    by_id = {case.id: case for case in load_cases()}
    [video] = [s for s in by_id[case_id].sources if s.publisher == publisher]
    assert video.date == date and words in video.title and "(video)" in video.title
    assert publisher in by_id[case_id].body  # the text tells students about it too
    others = [case for case in by_id.values() if case.id != case_id]
    assert not any(s.publisher == publisher for case in others for s in case.sources)
    # Shown with a link that finds it: a YouTube search for its title and publisher.
    line = source_line(video)
    assert "https://www.youtube.com/results?search_query=" in line
    assert quote_plus(publisher) in line and "a search: no link on file" in line


def test_the_9news_article_is_cited_without_a_home_page_link():
    case = next(c for c in load_cases() if c.id == "environmental-impact")
    [article] = [s for s in case.sources if s.publisher == "9News"]
    assert article.url == "" and article.date == "July 2025" and "Maddison Leach" in article.title


def test_default_questions_are_the_four_shared_ones():
    assert len(DEFAULT_QUESTIONS) == 4
    assert all(5 <= len(question) <= 300 for question in DEFAULT_QUESTIONS)
    assert len(set(DEFAULT_QUESTIONS)) == 4


def test_fine_tuning_case_refers_to_task_4():
    case = next(c for c in load_cases() if c.id == "fine-tuning-toxicity")
    assert "Task 4" in case.body and "Task 4" in case.summary
    assert any("2502.17424" in source.url for source in case.sources)


def test_package_imports_neither_torch_nor_discord():
    script = (
        "import importlib, pkgutil, sys\n"
        "import cases\n"
        "for info in pkgutil.walk_packages(cases.__path__, 'cases.'):\n"
        "    importlib.import_module(info.name)\n"
        "cases.load_cases()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'discord'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"cases imported {result.stdout.strip()}"
