"""Decoding parameters: transformers' defaults, range checks that name the field, JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from model_runner.decoding import DecodingMethod, DecodingParams
from model_runner.protocol import InvalidRequest


def test_defaults_are_transformers_defaults():
    params = DecodingParams()
    assert params.method is DecodingMethod.GREEDY
    assert params.max_new_tokens == 50
    assert params.num_beams == 5
    assert params.no_repeat_ngram_size == 0
    assert params.length_penalty == 1.0
    assert params.penalty_alpha == 0.6
    assert params.temperature == 1.0
    assert params.top_p == 1.0
    assert params.seed is None


def test_top_k_default_depends_on_the_method():
    assert DecodingParams(method="contrastive").top_k == 4
    assert DecodingParams(method="sampling").top_k == 50
    assert DecodingParams(method="sampling", top_k=0).top_k == 0  # 0 = off
    assert DecodingParams(method="contrastive", top_k=7).top_k == 7


def test_method_accepts_its_string_value():
    assert [DecodingParams(method=m.value).method for m in DecodingMethod] == list(DecodingMethod)
    assert [m.value for m in DecodingMethod] == ["greedy", "beam", "contrastive", "sampling"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"method": "topk"}, "method", "method must be one of greedy, beam, contrastive, sampling"),
        ({"max_new_tokens": 0}, "max_new_tokens", "max_new_tokens must be between 1 and 1024"),
        ({"max_new_tokens": 1025}, "max_new_tokens", "between 1 and 1024 (got 1025)"),
        (
            {"max_new_tokens": 2.5},
            "max_new_tokens",
            "must be a whole number between 1 and 1024 (got 2.5)",
        ),
        ({"num_beams": 1}, "num_beams", "num_beams must be between 2 and 10 (got 1)"),
        ({"num_beams": 11}, "num_beams", "num_beams must be between 2 and 10 (got 11)"),
        ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size", "between 0 and 10 (got -1)"),
        ({"no_repeat_ngram_size": 11}, "no_repeat_ngram_size", "between 0 and 10 (got 11)"),
        ({"length_penalty": -5.5}, "length_penalty", "between -5 and 5 (got -5.5)"),
        ({"length_penalty": 6}, "length_penalty", "length_penalty must be between -5 and 5"),
        ({"penalty_alpha": 1.2}, "penalty_alpha", "penalty_alpha must be between 0 and 1"),
        ({"penalty_alpha": -0.1}, "penalty_alpha", "between 0 and 1 (got -0.1)"),
        ({"method": "contrastive", "top_k": 0}, "top_k", "top_k must be between 1 and 20 (got 0)"),
        ({"method": "contrastive", "top_k": 21}, "top_k", "top_k must be between 1 and 20"),
        ({"method": "sampling", "top_k": -1}, "top_k", "top_k must be between 0 and 1000"),
        ({"method": "sampling", "top_k": 1001}, "top_k", "top_k must be between 0 and 1000"),
        ({"temperature": 9}, "temperature", "temperature must be between 0.05 and 5 (got 9)"),
        ({"temperature": 0.01}, "temperature", "between 0.05 and 5 (got 0.01)"),
        (
            {"temperature": float("nan")},
            "temperature",
            "temperature must be a number between 0.05 and 5",
        ),
        ({"top_p": 0}, "top_p", "top_p must be greater than 0 and at most 1 (got 0)"),
        ({"top_p": 1.5}, "top_p", "top_p must be greater than 0 and at most 1 (got 1.5)"),
        ({"seed": -1}, "seed", "seed must be between 0 and 4294967295 (got -1)"),
        ({"seed": 2**32}, "seed", "seed must be between 0 and 4294967295"),
        ({"seed": "7"}, "seed", "seed must be a whole number between 0 and 4294967295 (got '7')"),
        (
            {"num_beams": True},
            "num_beams",
            "num_beams must be a whole number between 2 and 10 (got True)",
        ),
        ({"temperature": "hot"}, "temperature", "a number between 0.05 and 5 (got 'hot')"),
    ],
)
def test_invalid_values_name_the_field_and_range(changes, field, message):
    with pytest.raises(InvalidRequest) as caught:
        DecodingParams(**changes)
    assert caught.value.field == field
    assert message in str(caught.value)
    assert caught.value.to_dict()["field"] == field


def test_range_ends_are_allowed():
    DecodingParams(
        method="beam", num_beams=10, no_repeat_ngram_size=10, length_penalty=-5, seed=2**32 - 1
    )
    DecodingParams(method="contrastive", top_k=20, penalty_alpha=1)
    DecodingParams(method="sampling", temperature=0.05, top_p=1, top_k=1000, seed=0)
    DecodingParams(method="sampling", temperature=5, top_p=1e-9)


def test_json_round_trip():
    params = DecodingParams(method="sampling", temperature=0.7, top_p=0.9, seed=42)
    data = json.loads(json.dumps(params.to_dict()))
    assert data["method"] == "sampling" and data["top_k"] == 50
    assert DecodingParams.from_dict(data) == params
    assert DecodingParams.from_dict({"method": "beam", "seed": None}).num_beams == 5


def test_unknown_and_missing_fields_are_refused_by_name():
    with pytest.raises(InvalidRequest) as caught:
        DecodingParams.from_dict({"method": "beam", "beams": 5})
    assert caught.value.field == "beams"
    assert "no field 'beams'" in str(caught.value) and "num_beams" in str(caught.value)
    with pytest.raises(InvalidRequest, match="must be a JSON object"):
        DecodingParams.from_dict(["greedy"])  # type: ignore[arg-type]


def test_numbers_are_stored_as_floats():
    params = DecodingParams(length_penalty=2, temperature=1, top_p=1, penalty_alpha=0)
    assert all(
        type(v) is float
        for v in (params.length_penalty, params.temperature, params.top_p, params.penalty_alpha)
    )


def test_params_do_not_import_torch():
    code = "import sys, model_runner.decoding; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
