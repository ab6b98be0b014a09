"""Our decoders give exactly the reference implementations' tokens.

Greedy and beam search are compared with the installed transformers' `generate()`;
contrastive search with tokens stored from transformers 4.55.4, the last release that had
it built in (see tests/fixtures/contrastive/make_reference.py). The models are tiny random
GPT-2s; "scale 8" multiplies their weight matrices by 8 so that the distributions are
peaked and the methods disagree. Each setting also runs with a stand-in EOS: a token the
unconstrained run produces halfway, so the EOS and finishing rules are exercised too.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

import pytest
import torch

from model_runner.decoding import DecodingMethod, DecodingParams
from model_runner.decoding.beam import beam_search
from model_runner.decoding.contrastive import ContrastiveStepper, contrastive_search
from model_runner.decoding.greedy import greedy_search
from model_runner.decoding.run import generate
from model_runner.protocol import InvalidRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contrastive"
PROMPTS = ["The best thing about AI is", "Once upon a time"]
MODELS = [(0, 1.0), (1, 1.0), (0, 8.0), (1, 8.0)]  # (build_tiny seed, weight scale)
N = 12  # max_new_tokens
PAD = 0  # the tiny tokenizer's pad (and real EOS) id


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "contrastive_make_reference", FIXTURES / "make_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()


@cache
def model_and_prompts(seed: int, scale: float):
    model, tokenizer = SCRIPT.build_model(seed, scale)
    return model, [tokenizer.encode(p) for p in PROMPTS]


def hf_generate(model, prompt_ids, eos, **kwargs) -> list[int]:
    ids = torch.tensor([prompt_ids])
    output = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=N,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=PAD,
        **kwargs,
    )
    return output[0, len(prompt_ids) :].tolist()


@pytest.mark.parametrize(("seed", "scale"), MODELS)
def test_greedy_equals_transformers(seed, scale):
    model, prompts = model_and_prompts(seed, scale)
    for prompt in prompts:
        free = hf_generate(model, prompt, PAD, num_beams=1)
        stand_in = free[N // 2]
        for eos in (PAD, stand_in):
            expected = hf_generate(model, prompt, eos, num_beams=1)
            got = greedy_search(model, prompt, max_new_tokens=N, eos_token_id=eos)
            assert got == expected, (prompt, eos)
        assert got[-1] == stand_in and len(got) <= N // 2 + 1  # stopped at the stand-in EOS
        for ngram in (1, 2):
            expected = hf_generate(model, prompt, PAD, num_beams=1, no_repeat_ngram_size=ngram)
            got = greedy_search(
                model, prompt, max_new_tokens=N, eos_token_id=PAD, no_repeat_ngram_size=ngram
            )
            assert got == expected, (prompt, ngram)


# (num_beams, length_penalty, no_repeat_ngram_size)
BEAM_SETTINGS = [(5, 1.0, 0), (5, 1.0, 2), (3, 2.0, 0), (4, -2.0, 1), (2, 0.5, 3), (10, 0.0, 0)]


@pytest.mark.parametrize(("seed", "scale"), MODELS)
def test_beam_equals_transformers(seed, scale):
    model, prompts = model_and_prompts(seed, scale)
    sharp = scale > 1
    ended_early = 0
    for prompt in prompts:
        for beams, penalty, ngram in BEAM_SETTINGS if sharp else BEAM_SETTINGS[:3]:
            options = {"num_beams": beams, "length_penalty": penalty, "no_repeat_ngram_size": ngram}
            free = hf_generate(model, prompt, PAD, **options)
            # Stand-in EOS ids: the best hypothesis's middle token, and (sharp models) its first.
            stand_ins = [free[len(free) // 2], free[0]] if sharp else [free[len(free) // 2]]
            for eos in [PAD, *stand_ins]:
                expected = hf_generate(model, prompt, eos, **options)
                got = beam_search(
                    model, prompt, max_new_tokens=N, eos_token_id=eos, pad_token_id=PAD, **options
                )
                assert got == expected, (prompt, options, eos)
                ended_early += len(got) < N
    if sharp:
        assert ended_early > 0  # finished hypotheses that won before the length limit


# Found by search (for the current `tiny` weights): here transformers' early-stop heuristic
# ends the search while a better hypothesis was still to come, so a beam search without that
# exact rule gives other tokens. If `tiny` changes, search again: run beam_search with
# `_may_improve` patched to always return True and keep the (settings, eos) whose tokens
# differ from transformers' while ending in eos before max_new_tokens.
@pytest.mark.parametrize(
    ("prompt", "beams", "penalty", "eos"),
    [("Once upon a time", 3, 2.0, 171), ("Once upon a time", 2, 3.0, 171)],
)
def test_beam_stops_where_transformers_stops(prompt, beams, penalty, eos):
    model, prompts = model_and_prompts(1, 8.0)
    ids = prompts[PROMPTS.index(prompt)]
    expected = hf_generate(model, ids, eos, num_beams=beams, length_penalty=penalty)
    got = beam_search(
        model,
        ids,
        max_new_tokens=N,
        eos_token_id=eos,
        pad_token_id=PAD,
        num_beams=beams,
        length_penalty=penalty,
    )
    assert got == expected
    assert got[-1] == eos and len(got) < N


def test_dispatcher_runs_the_named_method():
    model, prompts = model_and_prompts(0, 8.0)
    prompt = prompts[0]
    greedy = DecodingParams(method="greedy", max_new_tokens=N)
    assert generate(model, prompt, greedy, PAD, PAD) == hf_generate(model, prompt, PAD)
    beam = DecodingParams(method=DecodingMethod.BEAM, max_new_tokens=N, num_beams=3)
    assert generate(model, prompt, beam, PAD, PAD) == hf_generate(model, prompt, PAD, num_beams=3)
    contrastive = DecodingParams(method="contrastive", max_new_tokens=N)
    expected = contrastive_search(model, prompt, max_new_tokens=N, eos_token_id=PAD)
    assert generate(model, prompt, contrastive, PAD, PAD) == expected


def test_contrastive_stepper_refuses_a_step_without_hidden_states():
    stepper = ContrastiveStepper(max_new_tokens=N, eos_token_id=PAD)
    assert stepper.needs_hidden  # callers pass hidden states; one that does not is told so
    with pytest.raises(ValueError, match="hidden states"):
        stepper.begin([1, 2], torch.zeros(1, 16), None)


REFERENCE = json.loads((FIXTURES / "reference.json").read_text())


def test_contrastive_fixture_is_from_the_built_in_version_and_our_weights():
    assert REFERENCE["transformers"] == "4.55.4"
    assert {c["penalty_alpha"] for c in REFERENCE["cases"]} >= {0.0, 0.6, 1.0}
    assert {c["top_k"] for c in REFERENCE["cases"]} >= {1, 4}
    for stored in REFERENCE["models"]:
        model, _ = model_and_prompts(stored["seed"], stored["scale"])
        assert SCRIPT.weights_checksum(model) == stored["weights_sha256"]
        assert model.config.vocab_size == stored["vocab_size"]
        for key, value in stored["config"].items():
            assert getattr(model.config, key) == value


@pytest.mark.parametrize("index", range(len(REFERENCE["models"])))
def test_contrastive_equals_transformers_4_55(index):
    stored = REFERENCE["models"][index]
    model, _ = model_and_prompts(stored["seed"], stored["scale"])
    cases = [c for c in REFERENCE["cases"] if c["model"] == index]
    assert cases
    for case in cases:
        got = contrastive_search(
            model,
            case["prompt_ids"],
            max_new_tokens=REFERENCE["max_new_tokens"],
            eos_token_id=case["eos_token_id"],
            penalty_alpha=case["penalty_alpha"],
            top_k=case["top_k"],
            no_repeat_ngram_size=case["no_repeat_ngram_size"],
        )
        assert got == case["output_ids"], case


def test_contrastive_without_penalty_or_choice_is_greedy():
    model, prompts = model_and_prompts(1, 8.0)
    for prompt in prompts:
        greedy = greedy_search(model, prompt, max_new_tokens=N, eos_token_id=PAD)
        for alpha, top_k in ((0.0, 4), (0.6, 1)):
            got = contrastive_search(
                model, prompt, max_new_tokens=N, eos_token_id=PAD, penalty_alpha=alpha, top_k=top_k
            )
            assert got == greedy


@pytest.mark.parametrize(("seed", "scale"), MODELS)
def test_a_minimum_length_equals_transformers_min_new_tokens(seed, scale):
    """The end of text is held back for `min_new_tokens` tokens, as transformers does it: a
    stand-in EOS the free run produces early must not end the text before the minimum."""
    model, prompts = model_and_prompts(seed, scale)
    checked = 0
    for prompt in prompts:
        free = hf_generate(model, prompt, PAD, num_beams=1)
        eos = free[1]  # the free run would end after 2 tokens
        for least in (0, 4, N):
            expected = hf_generate(model, prompt, eos, num_beams=1, min_new_tokens=least)
            params = DecodingParams(method="greedy", max_new_tokens=N, min_new_tokens=least)
            got = generate(model, prompt, params, eos, PAD)
            assert got == expected, (prompt, least)
            assert len(got) >= min(least, N) and eos not in got[: least - 1]
            checked += least > 0 and len(got) > 2
        beam_free = hf_generate(model, prompt, PAD, num_beams=3)
        eos = beam_free[0]
        expected = hf_generate(model, prompt, eos, num_beams=3, min_new_tokens=5)
        params = DecodingParams(method="beam", max_new_tokens=N, num_beams=3, min_new_tokens=5)
        got = generate(model, prompt, params, eos, PAD)
        assert got == expected and len(got) >= 5
    assert checked  # the minimum made some text longer than the free run's
    with pytest.raises(InvalidRequest, match="min_new_tokens"):
        DecodingParams(max_new_tokens=10, min_new_tokens=11)


def test_contrastive_and_sampling_hold_the_end_of_text_back_too():
    model, prompts = model_and_prompts(0, 8.0)
    prompt = prompts[0]
    free = contrastive_search(model, prompt, max_new_tokens=N, eos_token_id=PAD)
    eos = free[1]
    assert len(contrastive_search(model, prompt, max_new_tokens=N, eos_token_id=eos)) == 2
    held = DecodingParams(method="contrastive", max_new_tokens=N, min_new_tokens=6)
    got = generate(model, prompt, held, eos, PAD)
    assert len(got) >= 6 and eos not in got[:5]
    for seed in range(20):
        sampled = DecodingParams(method="sampling", max_new_tokens=8, seed=seed, min_new_tokens=8)
        got = generate(model, prompt, sampled, eos, PAD)
        assert len(got) == 8 and eos not in got
