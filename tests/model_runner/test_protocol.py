"""The runner's typed protocol: requests check themselves, cross JSON intact, errors keep their
type over the wire, the transports are generic, and the bot sees only the protocol."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from model_runner.client import EmbeddedRunnerClient, HttpRunnerClient
from model_runner.http import build_app
from model_runner.protocol import (
    OPERATIONS,
    AdapterArchive,
    AlignmentParams,
    Attention,
    BeamTrace,
    CancelFineTune,
    Compare,
    DecodingParams,
    Embedding,
    FineTuneParams,
    FineTuneProgress,
    Generate,
    Info,
    InvalidRequest,
    ListAdapters,
    Loss,
    NextToken,
    Operation,
    PreferencePair,
    RunnerBusy,
    RunnerError,
    RunnerUnavailable,
    SamplerStages,
    StartAlignment,
    StartFineTune,
    StepCandidates,
    Tokenize,
    TrainStep,
)
from model_runner.protocol.errors import ERRORS, from_wire
from model_runner.protocol.wire import Message
from model_runner.runner import ModelRunner, RunnerConfig

ROOT = Path(__file__).resolve().parents[2]

SAMPLES: list[Operation] = [
    Info(),
    Generate("Once upon a time", DecodingParams(method="sampling", top_p=0.9, seed=3), "g1-v2"),
    Compare("The best thing about AI is", max_new_tokens=20, seed=7),
    NextToken("Mix the flour", temperature=0.5, top=5),
    Tokenize("Café au lait\n"),
    Loss("Mix the flour with the eggs"),
    Attention("The cat sat", layer=2, head=1),
    Embedding(["cake", "ice cream"], top=4),
    TrainStep("Preheat the oven.", steps=2, learning_rate=0.01),
    StartFineTune("g1-v1", ["One.", "Two."], FineTuneParams(epochs=2, rank=4)),
    FineTuneProgress("g1-v1"),
    CancelFineTune("g1-v1"),
    ListAdapters(),
    AdapterArchive("g1-v1"),
    SamplerStages("Mix the flour", temperature=1.3, top_k=20, top_p=0.8, top=4, seed=9),
    StepCandidates(
        "Mix the flour",
        [265, 42],
        "g1-v2",
        top=3,
        params=DecodingParams(method="contrastive", penalty_alpha=0.5, top_k=3),
    ),
    BeamTrace("Once upon a time", DecodingParams(method="beam", max_new_tokens=6, num_beams=3)),
    StartAlignment(
        "g1-class-aligned-v1",
        [PreferencePair("Once upon a time", " there was a cat.", " the the the")],
        AlignmentParams(beta=0.2, epochs=2),
    ),
]


def test_every_operation_has_a_sample_here():
    """A new operation fails this test until it is added to SAMPLES (and so is round-tripped)."""
    assert sorted(type(op).name for op in SAMPLES) == sorted(OPERATIONS)


@pytest.mark.parametrize("op", SAMPLES, ids=lambda op: type(op).name)
def test_every_request_crosses_json_unchanged(op):
    wire = json.loads(json.dumps(op.to_dict()))
    assert type(op).from_dict(wire) == op
    assert type(op).path() == "/v1/" + type(op).name.replace("_", "-")


def test_nested_parameters_are_checked_when_read_from_json():
    with pytest.raises(InvalidRequest) as caught:
        Generate.from_dict({"prompt": "hi", "params": {"num_beams": 99, "method": "beam"}})
    assert caught.value.field == "num_beams"
    with pytest.raises(InvalidRequest) as caught:
        StartFineTune.from_dict({"adapter": "a", "sentences": ["x"], "params": {"epochs": 0}})
    assert caught.value.field == "epochs" and "between 1 and 20" in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "body", "field", "words"),
    [
        (Tokenize, {"text": "hi", "txt": "hi"}, "txt", "a tokenize request has no field 'txt'"),
        (Tokenize, {}, "text", "text is required"),
        (Tokenize, {"text": ""}, "text", "text"),
        (Tokenize, {"text": 5}, "text", "text"),
        (NextToken, {"prompt": "hi", "top": 51}, "top", "top must be between 1 and 50 (got 51)"),
        (Embedding, {"words": []}, "words", "words"),
        (Embedding, {"words": ["a"] * 9}, "words", "8"),
        (TrainStep, {"text": "hi", "steps": 0}, "steps", "between 1 and 10"),
        (FineTuneProgress, {"job_id": "../etc"}, "job_id", "letters, digits"),
        (AdapterArchive, {}, "adapter", "adapter is required"),
        (Compare, {"prompt": "hi", "max_new_tokens": 5000}, "max_new_tokens", "1 and 1024"),
    ],
)
def test_bad_requests_are_refused_at_construction_naming_the_field(kind, body, field, words):
    with pytest.raises(InvalidRequest) as caught:
        kind.from_dict(body)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_null_means_the_default():
    assert NextToken.from_dict({"prompt": "hi", "top": None}) == NextToken("hi")
    with pytest.raises(InvalidRequest, match="prompt is required"):
        NextToken.from_dict({"prompt": None})


def test_a_message_can_be_shown_with_a_commands_own_option_name():
    with pytest.raises(InvalidRequest) as caught:
        NextToken("hi", top=99)
    assert str(caught.value).startswith("top must be between 1 and 50")
    assert caught.value.named("how_many").startswith("how_many must be between 1 and 50")
    # The template crosses the wire with the error.
    again = from_wire(400, json.loads(json.dumps(caught.value.to_dict())))
    assert again.named("how_many") == caught.value.named("how_many")


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_every_error_keeps_its_type_over_the_wire(name):
    kind = ERRORS[name]
    if kind is RunnerBusy:
        error: RunnerError = RunnerBusy("the queue is full", retry_after=2.5, field=None)
    else:
        error = kind("what to change", field="prompt")
    again = from_wire(kind.status, json.loads(json.dumps(error.to_dict())))
    assert type(again) is kind
    assert str(again) == str(error) and again.field == error.field
    if kind is RunnerBusy:
        assert again.retry_after == 2.5


def test_unknown_answers_become_an_unavailable_runner_not_a_crash():
    assert isinstance(from_wire(502, "<html>Bad gateway</html>"), RunnerUnavailable)
    assert isinstance(from_wire(401, {"error": "Unauthorized"}), RunnerUnavailable)
    assert isinstance(from_wire(400, {"message": "no"}), InvalidRequest)


def test_operations_cannot_share_a_name():
    with pytest.raises(TypeError, match="two operations are named 'tokenize'"):

        @dataclass(frozen=True)
        class Again(Operation[Info]):
            name: ClassVar[str] = "tokenize"


# --- the three-edit rule: a new operation is a type, a runner method and a test -------------


@dataclass(frozen=True)
class Shout(Message):
    """The toy operation's answer."""

    text: str
    tokens: int


@pytest.fixture
def shout():
    """A toy operation, registered for one test: the request type (checked at construction)."""

    @dataclass(frozen=True)
    class ShoutRequest(Operation[Shout]):
        name: ClassVar[str] = "shout"
        text: str
        times: int = 1

        def __post_init__(self) -> None:
            if not isinstance(self.times, int) or not 1 <= self.times <= 3:
                raise InvalidRequest(
                    f"times must be between 1 and 3 (got {self.times!r})", field="times"
                )

    yield ShoutRequest
    del OPERATIONS["shout"]


class ShoutingRunner(ModelRunner):
    """...the runner method of the same name..."""

    async def shout(self, op) -> Shout:
        loaded = await self.wait_ready()
        text = " ".join([op.text.upper()] * op.times)
        return Shout(text=text, tokens=len(loaded.tokenizer(text)["input_ids"]))


async def test_a_new_operation_is_served_in_process_and_over_http_unchanged(shout, tmp_path):
    runner = ShoutingRunner(RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path))
    await runner.wait_ready()
    server = TestClient(TestServer(build_app(runner)))
    await server.start_server()
    client = HttpRunnerClient(str(server.make_url("")).rstrip("/"))
    embedded = EmbeddedRunnerClient(model="tiny", device="cpu", data_dir=tmp_path)
    embedded._runner = runner  # the same runner behind both clients
    try:
        over_http = await client.call(shout("hey", times=2))
        in_process = await embedded.call(shout("hey", times=2))
        assert over_http == in_process and over_http.text == "HEY HEY"
        assert isinstance(over_http, Shout) and over_http.tokens > 0
        reply = await server.post("/v1/shout", json={"text": "hey", "times": 9})
        assert reply.status == 400 and (await reply.json())["field"] == "times"
    finally:
        await client.close()
        await server.close()


# --- the boundary: the bot sees the protocol and the client, nothing else of the runner -----


def _runner_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "model_runner"}


def test_the_bot_imports_only_the_protocol_and_the_client():
    allowed = ("model_runner.protocol", "model_runner.client")
    # The command line starts a runner (`labbot runner`) and the playground its own model.
    wiring = {ROOT / "bot" / "cli.py"}
    crossing = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "bot").rglob("*.py")
        if path not in wiring
        for name in _runner_imports(path)
        if not (name in allowed or name.startswith("model_runner.protocol."))
    }
    assert crossing == set()
