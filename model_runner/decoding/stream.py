"""A CPU generator's float64 uniforms at chosen places, its stream advanced as uniform_'s.

Random sampling's draw (processing.draw_one) must take exactly the uniforms that
`torch.multinomial` would take, one per vocabulary entry, so that a seed gives the tokens
transformers gives; but it only uses the few where the distribution is not 0 (top-k, top-p).
`Tensor.uniform_()` spends about 0.2 ms on GPT-2's 50,257 alone and 0.46 ms inside a burst,
nearly all of it per element (a call, a conversion and a store each), eight sampling rows a
step. mt_stream.c generates the same stream words and converts only the uniforms asked for.

`uniforms_at()` builds the library on first use (model_runner/native.py) and checks it
against uniform_ itself (several seeds, places before and across the generator's word
refills, its state afterwards, a uniform of exactly 0); anything missing or different leaves
it None, logged once, and the caller keeps uniform_.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch

from model_runner import native

log = logging.getLogger(__name__)

STATE_BYTES = 5056  # torch's CPU generator state (its legacy struct), as get_state gives it


def uniforms_at(
    state: torch.Tensor, count: int, places: torch.Tensor
) -> tuple[torch.Tensor, bool] | None:
    """Advance `state` (a CPU generator's `get_state()`, written in place) by `count` float64
    uniforms as `torch.empty(count, dtype=torch.float64).uniform_()` would, and return the
    uniforms at `places` (ascending int64, each below `count`) and whether any of the
    `count` is exactly 0. None (the state untouched) where this cannot be done here."""
    function = LOOP.function()
    if function is None or not _takes(state, count, places):
        return None
    places = places.contiguous()
    out = torch.empty(places.numel(), dtype=torch.float64)
    zero = function(state.data_ptr(), count, places.data_ptr(), places.numel(), out.data_ptr())
    return None if zero < 0 else (out, zero == 1)


def _takes(state: torch.Tensor, count: int, places: torch.Tensor) -> bool:
    return (
        state.dtype == torch.uint8
        and state.numel() == STATE_BYTES
        and state.is_contiguous()
        and count >= 0
        and places.dtype == torch.int64
        and places.dim() == 1
        and (places.numel() == 0 or (int(places[0]) >= 0 and int(places[-1]) < count))
        and bool((places[1:] > places[:-1]).all())  # ascending: the loop reads them in order
    )


def zero_first_state(seed: int) -> torch.Tensor:
    """A generator state whose next float64 uniform is exactly 0 (for the checks)."""
    generator = torch.Generator().manual_seed(seed)
    torch.empty(700, dtype=torch.float64).uniform_(generator=generator)  # past a refill
    state = generator.get_state().clone()
    words = state[24 : 24 + 8 * 624].view(torch.int64)
    nxt = int(state[16:24].view(torch.int64))
    words[nxt] = 0  # the high word (its low 21 bits are what counts)
    words[nxt + 1] = 0  # and the low word: tempering leaves 0 at 0
    return state


def _check(function: ctypes._CFuncPtr) -> str | None:  # type: ignore[name-defined]
    """None when the library gives uniform_'s values and state, else what differs."""
    generator, chooser = torch.Generator(), torch.Generator().manual_seed(0)
    for seed, before, count in [(0, 0, 50257), (7, 311, 1000), (123, 623, 5), (9, 1, 1)]:
        state = _state_before(seed, before)
        generator.set_state(state)
        want = torch.empty(count, dtype=torch.float64).uniform_(generator=generator)
        some = torch.randint(0, count, (min(count, 64),), generator=chooser)
        places = torch.cat([some, torch.tensor([0, count - 1])]).unique()  # sorted
        got = torch.empty(places.numel(), dtype=torch.float64)
        if function(state.data_ptr(), count, places.data_ptr(), places.numel(), got.data_ptr()):
            return "it found a zero uniform_ did not"
        if not torch.equal(got, want[places]):
            return "its uniforms differ from uniform_'s"
        if not torch.equal(state, generator.get_state()):
            return "it leaves the generator elsewhere than uniform_ does"
    zero = zero_first_state(1)
    generator.set_state(zero)
    if torch.empty(3, dtype=torch.float64).uniform_(generator=generator)[0].item() != 0:
        return "a state meant to give 0 did not (its layout is not the one expected)"
    state, got = zero.clone(), torch.empty(1, dtype=torch.float64)
    if function(state.data_ptr(), 3, torch.tensor([2]).data_ptr(), 1, got.data_ptr()) != 1:
        return "it missed a uniform of exactly 0"
    return None


LOOP = native.Loop(
    Path(__file__).with_name("mt_stream.c"),
    "labbot_uniforms_at",
    [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p],
    ctypes.c_int,
    _check,
    "sampling's uniforms",
    log,
)


def _state_before(seed: int, before: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    torch.empty(before, dtype=torch.float64).uniform_(generator=generator)
    return generator.get_state()
