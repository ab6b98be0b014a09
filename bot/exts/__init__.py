"""Feature extensions, one package per area of the lab; each has a `setup(bot)`."""

from __future__ import annotations

import importlib
import pkgutil


def find_extensions() -> list[str]:
    """Dotted names of every extension package below `bot.exts`, sorted."""
    found = []
    for module in pkgutil.walk_packages(__path__, prefix=__name__ + "."):
        if module.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        if hasattr(importlib.import_module(module.name), "setup"):
            found.append(module.name)
    return sorted(found)
