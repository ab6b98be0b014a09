"""A saved adapter as a zip a group can take home and load in a notebook.

The zip holds one folder named after the adapter: peft's standard files (unzipped, the
folder loads with `PeftModel.from_pretrained(base_model, folder)`), the runner's
`training.json`, and a README.txt saying which base model it belongs to and how to load it.

The zip is portable: its `adapter_config.json` leaves out the settings newer peft releases
added (at their defaults), so that every peft the project supports, back to 0.13.2, loads it;
and no file names a path on the server (a model loaded from a local folder or file is named
by that folder's or file's name). No torch here: it only reads files.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

README = "README.txt"
CONFIG = "adapter_config.json"
RECORD = "training.json"

# LoraConfig's fields in peft 0.13.2, the oldest release the project supports: it refuses
# any other key. Keys added since are left out of the zip while they hold their defaults.
PEFT_0_13_FIELDS = frozenset(
    {
        "alpha_pattern",
        "auto_mapping",
        "base_model_name_or_path",
        "bias",
        "fan_in_fan_out",
        "inference_mode",
        "init_lora_weights",
        "layer_replication",
        "layers_pattern",
        "layers_to_transform",
        "loftq_config",
        "lora_alpha",
        "lora_dropout",
        "megatron_config",
        "megatron_core",
        "modules_to_save",
        "peft_type",
        "r",
        "rank_pattern",
        "revision",
        "runtime_config",
        "target_modules",
        "task_type",
        "use_dora",
        "use_rslora",
    }
)
_UNUSED: tuple[Any, ...] = (
    None,
    False,
    "",
    [],
    {},
)  # a newer setting at these values changes nothing
_NEWER_DEFAULTS: dict[str, Any] = {"qalora_group_size": 16}  # only read with use_qalora
_METADATA = frozenset({"peft_version"})  # which release wrote it: informative only

# The runner's presets are not Hub ids: what a notebook should load instead.
_PRESET_HINTS = {
    "tiny": (
        "This adapter belongs to the lab bot's random-weight test model `tiny`, not to a\n"
        "real language model. Build the same model with the bot's code:\n"
        "    from model_runner.tiny import build_tiny\n"
        "    base, tokenizer = build_tiny()\n"
    ),
    "gemma-offline": (
        "The runner used Gemma 3 270M (base, not instruction-tuned) from a 4-bit quantised\n"
        "GGUF copy. On the Hub the same model is `google/gemma-3-270m`; loaded on top of it\n"
        "the adapter behaves close to, though not exactly like, it did on the runner.\n"
    ),
}
_PRESET_HUB_IDS = {"gemma-offline": "google/gemma-3-270m"}


def portable_model_name(name: str) -> str:
    """`name` without the server's paths: a Hub id or preset as it is, a local folder or
    file by its own name (`/srv/models/my-gpt2` -> `my-gpt2`, `.../gemma.gguf` -> `gemma`)."""
    if not name:
        return name
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or name.startswith(("~", "./", "../", ".\\")):
            return pure.stem if pure.suffix == ".gguf" else pure.name
    if name.endswith(".gguf"):
        return PurePosixPath(name.replace("\\", "/")).stem
    return name


def portable_config(config: dict[str, Any]) -> dict[str, Any]:
    """peft's adapter config as every supported peft release loads it, without server paths."""
    kept = {}
    for key, value in config.items():
        newer = key not in PEFT_0_13_FIELDS
        unused = value in _UNUSED or _NEWER_DEFAULTS.get(key, object()) == value
        if newer and (unused or key in _METADATA):
            continue
        kept[key] = value
    base = kept.get("base_model_name_or_path")
    if isinstance(base, str):
        name = portable_model_name(base)
        kept["base_model_name_or_path"] = _PRESET_HUB_IDS.get(name, name)
    return kept


def base_model_name(folder: Path, configured: str = "") -> str:
    """The base model an adapter was trained from: its training record, else peft's config,
    else the runner's configured model."""
    for name, key in (("training.json", "base_model"), ("adapter_config.json", None)):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        value = data.get(key) if key else data.get("base_model_name_or_path")
        if value:
            return portable_model_name(str(value))
    return portable_model_name(configured)


def readme(adapter_id: str, base_model: str) -> str:
    """How to load the adapter in a notebook, in plain words."""
    hub_id = _PRESET_HUB_IDS.get(base_model, base_model)
    hint = _PRESET_HINTS.get(base_model, "")
    title = f"Adapter {adapter_id}: a LoRA fine-tune made with the lab bot"
    return f"""{title}
{"=" * len(title)}

This folder is not a whole model. It is a LoRA adapter: a few small matrices that are
added to some layers of a pre-trained base model, in the standard format of the peft
library (adapter_config.json and adapter_model.safetensors). The base model's own weights
are unchanged; you load the base model first and put the adapter on top.

Base model: {base_model}
{hint}
training.json records what the adapter learned from: the group's sentences, the settings
(epochs, learning rate, LoRA rank r, batch size) and the training loss after each step.

Loading it in a notebook (pip install torch transformers peft; any peft from 0.13.2 on):

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained("{hub_id}")
    tokenizer = AutoTokenizer.from_pretrained("{hub_id}")
    model = PeftModel.from_pretrained(base, "{adapter_id}")  # this folder, unzipped
    model.eval()

    inputs = tokenizer("Once upon a time", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=30, do_sample=False)
    print(tokenizer.decode(output[0], skip_special_tokens=True))

Some base models on the Hugging Face Hub are gated: Gemma, for one, asks you to accept
Google's licence on the model's page (https://huggingface.co/{hub_id}) while logged in, and
from_pretrained then needs your access token: run `hf auth login` once (older releases:
`huggingface-cli login`), or set the HF_TOKEN environment variable. Without that the
download stops with a 401 or 403 error that names the gated repository.

To see what the model wrote before fine-tuning, run the same generate call inside
`with model.disable_adapter():`. Greedy decoding (do_sample=False) gives the same text
every time, which makes the two easy to compare.
"""


def adapter_zip(folder: Path, configured_model: str = "") -> bytes:
    """The adapter's folder as zip bytes: `<id>/` with every file in it and a README.txt."""
    adapter_id = folder.name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.is_symlink() or path.name == README:
                continue
            inside = f"{adapter_id}/{path.relative_to(folder).as_posix()}"
            if path.parent == folder and path.name in (CONFIG, RECORD):
                archive.writestr(inside, _portable_json(path))
            else:
                archive.write(path, inside)
        text = readme(adapter_id, base_model_name(folder, configured_model))
        archive.writestr(f"{adapter_id}/{README}", text)
    return buffer.getvalue()


def _portable_json(path: Path) -> str:
    """The adapter's config or training record as the zip carries it (see the docstring)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if path.name == CONFIG:
        data = portable_config(data)
    elif isinstance(data.get("base_model"), str):
        data["base_model"] = portable_model_name(data["base_model"])
    return json.dumps(data, indent=2)
