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
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-std=gnu11", "-fPIC", "-shared"]
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
