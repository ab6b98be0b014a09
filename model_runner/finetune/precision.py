"""The number format fine-tunes compute in: bfloat16 where the hardware multiplies it natively.

LoRA's own weights, the optimiser and the loss stay in float32; under `torch.autocast` only
the matrix products run in bfloat16. On a CPU with AVX-512 BF16 or AMX (recent Xeon and EPYC)
that is two to three times the float32 speed, which is what lets a class's fine-tunes finish
in minutes on a few cores; on an NVIDIA GPU it is the usual mixed precision. Elsewhere
(AVX2-only CPUs, Apple's MPS) float32, where bfloat16 would be emulated and slower.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

CHOICES = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bfloat16 matrices in hardware."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def training_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """bfloat16 for "bf16", and for "auto" where it is native; None (float32) otherwise."""
    if choice not in CHOICES:
        raise ValueError(f"finetune_precision must be one of {', '.join(CHOICES)}")
    if choice == "bf16" or (choice == "auto" and native_bf16(device)):
        return torch.bfloat16
    return None


def autocast(
    dtype: torch.dtype | None, device: torch.device
) -> Callable[[], AbstractContextManager]:
    """A factory of the context that a training forward pass runs in."""
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)
