"""LoRA adapters of the base model, addressed by id and loaded on demand.

An adapter is a directory in peft's standard format (`adapter_config.json` and the adapter
weights) under `<data_dir>/adapters/<id>/`. The first adapter turns the base model into a
`PeftModel`; later ones are added beside it. Requests name their adapter per row, so rows of
different groups' fine-tuned models share one forward pass (peft's `adapter_names`), and
rows without one use the unchanged base weights (`"__base__"`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from model_runner.api import AdapterInfo, InvalidRequest

BASE = "__base__"
_ADAPTER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class AdapterRegistry:
    """Finds adapters on disk and attaches them to the model (on the worker thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaded: set[str] = set()

    def path(self, adapter_id: str) -> Path:
        """The adapter's directory, or an error naming the adapter."""
        if not _ADAPTER_ID.match(adapter_id) or ".." in adapter_id:
            raise InvalidRequest(
                "adapter must be 1-128 letters, digits, '.', '_' or '-'", field="adapter"
            )
        path = self.root / adapter_id
        if not (path / "adapter_config.json").is_file():
            raise InvalidRequest(f"no adapter {adapter_id!r} on this runner", field="adapter")
        return path

    def check_new(self, adapter_id: str) -> None:
        """A valid id that no saved adapter uses yet."""
        if not _ADAPTER_ID.match(adapter_id) or ".." in adapter_id:
            raise InvalidRequest(
                "adapter must be 1-128 letters, digits, '.', '_' or '-'", field="adapter"
            )
        if (self.root / adapter_id).exists():
            raise InvalidRequest(f"adapter {adapter_id!r} already exists", field="adapter")

    def saved(self) -> list[AdapterInfo]:
        """Every saved adapter with its training record."""
        found = []
        for path in sorted(self.root.glob("*/adapter_config.json")):
            record_path = path.parent / "training.json"
            record = json.loads(record_path.read_text()) if record_path.is_file() else {}
            found.append(
                AdapterInfo(
                    id=path.parent.name,
                    sentences=len(record.get("sentences", [])),
                    params=record.get("params", {}),
                    created_at=record.get("created_at", ""),
                )
            )
        return found

    def attach(self, model: torch.nn.Module, adapter_id: str) -> torch.nn.Module:
        """Load the adapter into `model` if needed; returns the (possibly wrapped) model."""
        if adapter_id in self.loaded:
            return model
        from peft import PeftModel

        path = self.path(adapter_id)
        if isinstance(model, PeftModel):
            model.load_adapter(str(path), adapter_name=adapter_id, is_trainable=False)
        else:
            model = PeftModel.from_pretrained(model, str(path), adapter_name=adapter_id)
        model.eval()
        self.loaded.add(adapter_id)
        return model
