"""The playground's command language."""

from __future__ import annotations

import pytest

from bot.playground.script import ScriptError, parse_line, parse_script


def test_slash_command_with_quoted_options():
    step = parse_line('/compare prompt:"The best thing about AI is its ability to" max_tokens:30')
    assert step.kind == "slash" and step.words == ("compare",)
    assert step.options == {
        "prompt": "The best thing about AI is its ability to",
        "max_tokens": "30",
    }


def test_subcommands_and_attachments():
    with pytest.raises(ScriptError, match="after the options"):
        parse_line("/finetune upload file:@my sentences.txt")  # a space needs quotes
    step = parse_line('/finetune upload file:"@my sentences.txt"')
    assert step.words == ("finetune", "upload") and step.options == {"file": "@my sentences.txt"}


def test_escapes_in_values():
    step = parse_line(r'/finetune add text:"One\nTwo\tthree \"quoted\" C:\\new"')
    assert step.options == {"text": 'One\nTwo\tthree "quoted" C:\\new'}
    assert parse_line(r"/tokens text:a\nb").options == {"text": "a\nb"}
    assert parse_line(r"/tokens text:'kept\n as typed'").options == {"text": r"kept\n as typed"}
    assert parse_line(r'/tokens text:"C:\Users"').options == {"text": r"C:\Users"}


def test_triple_quoted_values_span_lines():
    steps = parse_script(
        '/finetune paste\nmodal "One sentence per line":"""\n'
        'First sentence.\n# not a comment\n  Second sentence.\n"""\n'
        'expect "Added"\n'
    )
    assert [s.kind for s in steps] == ["slash", "modal", "expect"]
    assert steps[1].options == {
        "One sentence per line": "First sentence.\n# not a comment\n  Second sentence."
    }
    assert [s.line for s in steps] == [1, 2, 7]
    one_line = parse_line('modal "Answer":"""Yes: "really" """')
    assert one_line.options == {"Answer": 'Yes: "really" '}
    with pytest.raises(ScriptError, match='line 2: no closing """'):
        parse_script('/help\nmodal Answer:"""never closed\nstill open\n')


def test_acting_user_with_roles():
    step = parse_line('as Mr Smith roles:"Instructor, Group 2"')
    assert step.kind == "as" and step.words == ("Mr Smith",)
    assert step.options == {"roles": "Instructor, Group 2"}


def test_other_actions():
    assert parse_line("click Approve all").words == ("Approve all",)
    assert parse_line("select Greedy, 5-Beam").words == ("Greedy", "5-Beam")
    assert parse_line('modal Answer:"We think so"').options == {"Answer": "We think so"}
    step = parse_line('modal "Group 2\'s answer":"Yes: really"')
    assert step.options == {"Group 2's answer": "Yes: really"}
    assert parse_line("wait").kind == "wait"
    assert parse_line("wait 30").words == ("30",)
    assert parse_line('wait for "Fine-tune finished"').kind == "wait_for"
    assert parse_line('expect "Greedy"').words == ("Greedy",)
    assert parse_line("expect error").kind == "expect_error"


def test_comments_and_blank_lines_are_skipped():
    steps = parse_script("# intro\n\n/help\n   # indented comment\n/about\n")
    assert [s.words for s in steps] == [("help",), ("about",)]
    assert [s.line for s in steps] == [3, 5]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dance", "not a playground action"),
        ('/compare prompt:"unclosed', "check your quotes"),
        ("wait soon", "number of seconds"),
        ("modal just words", "Label:"),
        ("/", "command name"),
    ],
)
def test_bad_lines_say_what_is_allowed(line, message):
    with pytest.raises(ScriptError, match=message):
        parse_line(line, 7)


@pytest.mark.parametrize("value", ["plain", "two words", 'say "hi"', "a\nb\tc", "C:\\new", ""])
def test_the_transcript_echoes_values_as_they_can_be_typed(value):
    from bot.playground.session import _quoted

    assert parse_line(f"/tokens text:{_quoted(value)}").options == {"text": value}
