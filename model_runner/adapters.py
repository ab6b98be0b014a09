"""LoRA adapters of the base model, addressed by id and loaded on demand.

An adapter is a directory in peft's standard format (`adapter_config.json` and the adapter
weights) under `<data_dir>/adapters/<id>/`. The first adapter turns the base model into a
`PeftModel`; later ones are added beside it. Requests name their adapter per row, so rows of
different groups' fine-tuned models share one forward pass (peft's `adapter_names`), and
rows without one use the unchanged base weights (`"__base__"`).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import torch

from model_runner.protocol import AdapterInfo, AdapterNotFound, RunAlreadyActive
from model_runner.protocol.limits import check_id

log = logging.getLogger(__name__)

BASE = "__base__"


def reset_routing(model: torch.nn.Module) -> int:
    """Remove the adapter-routing hooks a failed forward pass left on the model.

    For a mixed-adapter batch peft registers a pre-forward hook on every LoRA layer that
    hands it the rows' adapter names, and removes the hooks only when the pass returns
    normally. After a pass that raised, the stale hooks would route every later call
    (with another number of rows) and fail it. Returns how many hooks were removed.
    """
    removed = 0
    for module in model.modules():
        hooks = module._forward_pre_hooks
        for key, hook in list(hooks.items()):
            if isinstance(hook, functools.partial) and "adapter_names" in hook.keywords:
                del hooks[key]
                module._forward_pre_hooks_with_kwargs.pop(key, None)
                removed += 1
    if removed:
        log.warning("removed %d stale adapter-routing hooks after a failed pass", removed)
    return removed


class AdapterRegistry:
    """Finds adapters on disk and attaches them to the model (on the worker thread)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loaded: set[str] = set()

    def path(self, adapter_id: str) -> Path:
        """The adapter's directory, or AdapterNotFound naming it."""
        path = self.root / check_id("adapter", adapter_id)  # never a path outside the store
        if not (path / "adapter_config.json").is_file():
            raise AdapterNotFound(f"no adapter {adapter_id!r} on this runner", field="adapter")
        return path

    def check_new(self, adapter_id: str) -> None:
        """An id that no saved adapter uses yet (RunAlreadyActive otherwise)."""
        if (self.root / check_id("adapter", adapter_id)).exists():
            raise RunAlreadyActive(f"adapter {adapter_id!r} already exists", field="adapter")

    def saved(self) -> list[AdapterInfo]:
        """Every saved adapter with its training record."""
        found = []
        for path in sorted(self.root.glob("*/adapter_config.json")):
            if path.parent.name.startswith("."):
                continue  # an adapter still being written (moved into place when whole)
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
            try:
                model.load_adapter(str(path), adapter_name=adapter_id, is_trainable=False)
            except Exception:
                # A damaged adapter must not stay half-loaded in the shared model.
                if adapter_id in model.peft_config:
                    try:
                        model.delete_adapter(adapter_id)
                    except Exception:  # noqa: BLE001 - the load error is the one to report
                        log.exception("could not unload the damaged adapter %s", adapter_id)
                raise
        else:
            model = PeftModel.from_pretrained(model, str(path), adapter_name=adapter_id)
        model.eval()
        self.loaded.add(adapter_id)
        return model

    def detach(self, model: torch.nn.Module, adapter_id: str) -> bool:
        """Unload a loaded adapter from `model` (to make room for other courses' adapters);
        the last one stays (a peft model needs one). True if it was unloaded."""
        if adapter_id not in self.loaded or len(self.loaded) == 1:
            return False
        model.delete_adapter(adapter_id)  # type: ignore[operator]
        self.loaded.discard(adapter_id)
        return True
