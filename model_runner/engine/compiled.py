"""The decode step's attention as one compiled loop, built for this machine when first needed.

attention.py reads each layer's whole key and value buffers in a decode step with two batched
matrix products and the softmax between them. On the lab's 2-core AMD EPYC, at GPT-2 small's
burst shape (88 rows, 12 heads, 74 columns), the keys' product read its buffer at the memory's
speed (0.6 ms a layer), but the values' product ran at half of it (1.2 ms), and the mask,
scale and softmax between them read and wrote the scores three more times: about 1.5 ms a
layer in all. decode_attention.c does the same arithmetic per row and head in one pass, its
scores in a scratch row that stays in the core's cache, reading only the columns the row sees
(the next unit's fetched ahead) and the columns a request's rows hold alike from one of them
(`RowSharing`): in a burst, 0.75-0.87 s of attention against 0.95-1.01 s with every row
reading its own columns and 0.91-1.07 s by the products (benchmarks/decode_attention.py).
Where the head size is a multiple of 64 (GPT-2's 64, most models' 128 or 256), the loop keeps
the query's and the output's 64-float blocks in vector registers and runs four columns' dot
products side by side, fetching the next unit's columns a few at a time as it goes: a layer of
the burst's shape in 0.31-0.53 ms against 0.86-1.25 ms with its caches cold, and the burst's
attention in 0.36 s against 0.68 s.

`kernel()` builds it once per process with the machine's C compiler (`$CC`, else `cc`; about
0.2 s), for this very CPU (`-march=native`: the library lives only in a temporary folder and
this process), and only where its OpenMP threads are torch's own: torch on GNU OpenMP, whose
libgomp is already loaded, so that the library's `libgomp.so.1` is that copy and not a second
runtime with threads of its own on the same cores. It then checks the library against
PyTorch's own arithmetic on a few small layers (grouped-query heads, hidden columns holding
NaN, a row that sees one column) before any real pass uses it. Anything missing or wrong (no
compiler, macOS's or Intel's OpenMP, a failed build or check) leaves `kernel()` None, logged
once, and attention.py keeps its products: results differ only in floating-point summation
order either way.
"""

from __future__ import annotations

import ctypes
import logging
import operator
import subprocess
import sys
import threading
from pathlib import Path

import torch

from model_runner import native
from model_runner.engine.openmp import gnu_openmp_libraries

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("decode_attention.c")
FLAGS = [*native.FLAGS, "-fopenmp"]
CHECK_TOLERANCE = 1e-5  # absolute, on outputs of magnitude about 1

_lock = threading.Lock()
_built: list[DecodeAttention | None] = []  # [] until the first call of kernel()


class RowSharing:
    """Which rows read their first columns from another row: row r takes the keys and values
    of its columns before `shared[r]` from row `lead[r]` (which holds the same there), the
    rest from its own. Checked once here and kept in private tensors the loop reads, which
    nothing hands out, so that the loop never reads outside the buffers."""

    def __init__(self, lead: list[int], shared: list[int], columns: int) -> None:
        rows = len(lead)
        if len(shared) != rows:
            raise ValueError("one lead row and one shared span per row")
        lead, shared = [operator.index(x) for x in lead], [operator.index(x) for x in shared]
        if any(not 0 <= row < rows for row in lead) or any(not 0 <= s <= columns for s in shared):
            raise ValueError(f"lead rows must lie in 0..{rows - 1}, spans in 0..{columns}")
        self._rows, self._columns = rows, columns
        self._lead = torch.tensor(lead, dtype=torch.int64)
        self._shared = torch.tensor(shared, dtype=torch.int64)

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def columns(self) -> int:
        return self._columns

    @property
    def lead(self) -> list[int]:
        return self._lead.tolist()

    @property
    def shared(self) -> list[int]:
        return self._shared.tolist()

    @classmethod
    def alone(cls, rows: int, columns: int) -> RowSharing:
        """Every row reads its own columns."""
        return cls(list(range(rows)), [0] * rows, columns)


class DecodeAttention:
    """The compiled attention: `(query, keys, values, hidden, scale[, sharing]) -> out`."""

    def __init__(self, function: ctypes._CFuncPtr) -> None:  # type: ignore[name-defined]
        function.argtypes = (
            [ctypes.c_void_p] * 7
            + [ctypes.c_int64] * 5
            + [
                ctypes.c_float,
                ctypes.c_int,
            ]
        )
        function.restype = ctypes.c_int
        self.function = function

    def __call__(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        hidden: torch.Tensor,
        scale: float,
        sharing: RowSharing | None = None,
    ) -> torch.Tensor | None:
        """query [rows, heads, 1, dim]; keys and values [rows, kv heads, columns, dim],
        contiguous float32; hidden [rows, columns] bool; `sharing` for these rows and columns
        (None: every row its own). The output [rows, 1, heads, dim], or None when the
        arguments are not of that kind (the caller then computes it its way). ctypes lets go
        of Python's lock for the call: other threads run meanwhile."""
        rows, heads, _, dim = query.shape
        kv_heads, columns = keys.shape[1], keys.shape[2]
        if not (
            keys.dtype == values.dtype == query.dtype == torch.float32
            and keys.device.type == "cpu"
            and keys.is_contiguous()
            and values.is_contiguous()
            and keys.shape == values.shape
            and keys.shape[0] == rows
            and keys.shape[3] == dim
            and heads % kv_heads == 0
            and hidden.dtype == torch.bool
            and hidden.shape == (rows, columns)
            and (sharing is None or (sharing.rows, sharing.columns) == (rows, columns))
        ):
            return None
        sharing = sharing or RowSharing.alone(rows, columns)
        query = query.reshape(rows, heads, dim).contiguous()
        hidden = hidden.contiguous()
        out = torch.empty(rows, 1, heads, dim, dtype=torch.float32)
        failed = self.function(
            query.data_ptr(),
            keys.data_ptr(),
            values.data_ptr(),
            hidden.data_ptr(),
            sharing._lead.data_ptr(),
            sharing._shared.data_ptr(),
            out.data_ptr(),
            rows,
            kv_heads,
            heads // kv_heads,
            columns,
            dim,
            scale,
            torch.get_num_threads(),  # this thread's team, as torch's products use it
        )
        return None if failed else out


def kernel() -> DecodeAttention | None:
    """The compiled attention, built and checked on the first call; None where it cannot be
    used here (the reason is logged once)."""
    if not _built:
        with _lock:
            if not _built:
                _built.append(_make())
    return _built[0]


def _make() -> DecodeAttention | None:
    reason = _unusable_here()
    if reason is None:
        try:
            attention = DecodeAttention(_build().labbot_decode_attention)
        except (OSError, subprocess.SubprocessError, AttributeError) as error:
            reason = f"it did not build: {error}"
        else:
            reason = _check(attention)
            if reason is None:
                log.debug("decode attention: compiled for this CPU")
                return attention
    log.info("decode attention: the compiled loop is not used (%s); PyTorch's products are", reason)
    return None


def _unusable_here() -> str | None:
    """Why the library cannot be built and share torch's threads here, or None."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return "torch does not run on OpenMP"
    if len(gnu_openmp_libraries()) != 1:
        return "torch's threads are not on one GNU OpenMP runtime"
    if native.compiler() is None:
        return "no C compiler (set CC, or install gcc)"
    return None


def _build() -> ctypes.CDLL:
    """Compile decode_attention.c and load it (model_runner/native.py)."""
    before = gnu_openmp_libraries()
    library = native.build(SOURCE, FLAGS)
    if gnu_openmp_libraries() != before:  # loaded a libgomp of its own: not torch's threads
        raise OSError("it brought a second OpenMP runtime")
    return library


def _reference(
    query: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    hidden: torch.Tensor,
    sharing: RowSharing | None = None,
) -> torch.Tensor:
    """The same attention in PyTorch's arithmetic, float64 (for the check)."""
    if sharing is not None:  # each row's shared columns replaced by its lead's
        keys, values = keys.clone(), values.clone()
        for row, (lead, span) in enumerate(zip(sharing.lead, sharing.shared, strict=True)):
            keys[row, :, :span] = keys[lead, :, :span]
            values[row, :, :span] = values[lead, :, :span]
    groups = query.shape[1] // keys.shape[1]
    k = keys.double().repeat_interleave(groups, dim=1).nan_to_num()
    v = values.double().repeat_interleave(groups, dim=1).nan_to_num()
    scores = query.double() @ k.transpose(-1, -2) * query.shape[-1] ** -0.5
    scores = scores.masked_fill(hidden[:, None, None, :], float("-inf"))
    return (scores.softmax(dim=-1) @ v).transpose(1, 2).float()  # [rows, 1, heads, dim]


def _check(attention: DecodeAttention) -> str | None:
    """None when the library agrees with PyTorch on a few small layers, else what differs."""
    generator = torch.Generator().manual_seed(0)
    for rows, heads, kv_heads, columns, dim in [
        (3, 4, 4, 37, 64),
        (2, 8, 2, 9, 80),
        (2, 8, 2, 11, 128),  # grouped heads on the 64-float blocks' path
        (5, 3, 1, 1, 256),
    ]:
        query = torch.randn(rows, heads, 1, dim, generator=generator)
        keys = torch.randn(rows, kv_heads, columns, dim, generator=generator) * 2
        values = torch.randn(rows, kv_heads, columns, dim, generator=generator)
        hidden = torch.rand(rows, columns, generator=generator) < 0.3
        hidden[:, -1] = False  # every row sees its newest column
        # The last row reads its first columns from row 0, as a request's later beams do.
        span = columns // 2
        hidden[-1, :span] = hidden[0, :span]
        sharing = RowSharing([*range(rows - 1), 0], [0] * (rows - 1) + [span], columns)
        expected = _reference(query, keys, values, hidden, sharing)
        keys[-1, :, :span] = float("nan")  # never read: row 0's are
        values[-1, :, :span] = float("nan")
        keys[hidden[:, None, :, None].expand_as(keys)] = float("nan")
        values[hidden[:, None, :, None].expand_as(values)] = float("nan")
        got = attention(query, keys, values, hidden, dim**-0.5, sharing)
        if got is None:
            return "it refused a check's arguments"
        error = (got - expected).abs().max().item()
        if not error <= CHECK_TOLERANCE:  # NaN fails too
            return f"it differs from PyTorch by {error:.2g} on a check"
    return None
