"""A saved adapter as a zip a group can take home and load in a notebook.

The zip holds one folder named after the adapter: peft's standard files (unzipped, the
folder loads with `PeftModel.from_pretrained(base_model, folder)`), the runner's
`training.json`, and a README.txt saying which base model it belongs to and how to load it.
No torch here: it only reads files.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

README = "README.txt"

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
            return str(value)
    return configured


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

Loading it in a notebook (pip install torch transformers peft):

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained("{hub_id}")
    tokenizer = AutoTokenizer.from_pretrained("{hub_id}")
    model = PeftModel.from_pretrained(base, "{adapter_id}")  # this folder, unzipped
    model.eval()

    inputs = tokenizer("Once upon a time", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=30, do_sample=False)
    print(tokenizer.decode(output[0], skip_special_tokens=True))

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
            if path.is_file() and not path.is_symlink() and path.name != README:
                archive.write(path, f"{adapter_id}/{path.relative_to(folder).as_posix()}")
        text = readme(adapter_id, base_model_name(folder, configured_model))
        archive.writestr(f"{adapter_id}/{README}", text)
    return buffer.getvalue()
