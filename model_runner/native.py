"""C files of the model runner built for this very machine when first needed.

The runner's few C loops (the decode step's attention, engine/compiled.py; a generator's
uniforms at chosen places, decoding/stream.py) are compiled with the machine's C compiler
(`$CC`, which may carry words such as `ccache gcc`; else `cc`) for this CPU
(`-march=native`): the library lives in a temporary folder only until it is loaded, in this
process alone. Each caller checks its library against PyTorch before use and keeps PyTorch's
own way where there is no compiler or the build fails.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

INCLUDE = Path(__file__).parent  # vectors.h, shared by the loops
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-std=gnu11", "-fPIC", "-shared"]
FLAGS += ["-I", str(INCLUDE)]
BUILD_SECONDS = 120  # a compiler that takes longer is given up on


def compiler() -> list[str] | None:
    """The C compiler's command (`$CC`, else `cc`), or None where its program is not found."""
    words = shlex.split(os.environ.get("CC") or "cc")
    program = shutil.which(words[0]) if words else None
    return None if program is None else [program, *words[1:]]


def build(source: Path, flags: list[str]) -> ctypes.CDLL:
    """Compile `source` with `flags` and load it; the file is removed once loaded. OSError
    (with the compiler's last words) where it does not build."""
    command = compiler()
    if command is None:
        raise OSError("no C compiler (set CC, or install gcc)")
    with tempfile.TemporaryDirectory(prefix="labbot-native-") as folder:
        target = Path(folder) / f"{source.stem}.so"
        done = subprocess.run(
            [*command, *flags, str(source), "-o", str(target)],
            capture_output=True,
            text=True,
            timeout=BUILD_SECONDS,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-400:]}")
        return ctypes.CDLL(str(target))


class Loop:
    """One C function of `source`, built on first use and checked before any real use.

    `function()` is the ctypes function, or None where there is no compiler, the build
    failed or `check(function)` (None when it agrees with PyTorch, else what differs) found
    it wrong; the reason is logged once, at INFO, as "<what>: PyTorch's way is used
    (<reason>)", and the caller keeps PyTorch's way."""

    def __init__(
        self,
        source: Path,
        name: str,
        argtypes: list[Any],
        restype: Any,
        check: Callable[[Any], str | None],
        what: str,
        log: logging.Logger,
    ) -> None:
        self.source, self.name, self.argtypes, self.restype = source, name, argtypes, restype
        self.check, self.what, self.log = check, what, log
        self._lock = threading.Lock()
        self._built: list[Any] = []  # [] until the first call of function()

    def function(self) -> Any:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._built.append(self._make())
        return self._built[0]

    def _make(self) -> Any:
        reason: str | None
        if compiler() is None:
            reason = "no C compiler (set CC, or install gcc)"
        else:
            try:
                function = getattr(build(self.source, FLAGS), self.name)
            except (OSError, subprocess.SubprocessError, AttributeError, ValueError) as error:
                reason = f"it did not build: {error}"
            else:
                function.argtypes, function.restype = self.argtypes, self.restype
                try:
                    reason = self.check(function)
                except Exception as error:  # noqa: BLE001 - a check that breaks: not used
                    reason = f"its check failed: {type(error).__name__}: {error}"
                if reason is None:
                    return function
        self.log.info("%s: PyTorch's way is used (%s)", self.what, reason)
        return None
