"""The engine's linear layers multiplied by oneDNN, their weights laid out ahead (CPU, fp32).

Nearly all of a decode step's arithmetic is the linear layers' matrix products. PyTorch hands
a float32 `nn.Linear` (or GPT-2's `Conv1D`) on a CPU to MKL, which on the lab's 2-core AMD
EPYC ran GPT-2 small's 48 layer products at 118-130 GFLOP/s for 64-120 rows, 7 GFLOP/s for
one row; oneDNN, which PyTorch also ships, ran the same products at 166-181 GFLOP/s straight
from the weights, and at 198-212 GFLOP/s (14 GFLOP/s for one row) once each weight was
reordered into oneDNN's own blocked layout: a decode step 1.7x faster. GPT-2's activation
(the tanh GELU, written as five tensor operations) then cost as much again as the product
before it (2.0 ms of a layer's 4.1 ms at 88 rows); oneDNN applies it as the product's own
last step for 0.2 ms, so a GPT-2 MLP's first product and its activation are one call.

`prepare(model)` gives each float32 CPU linear layer of the model (not its output layer:
engine/head.py multiplies that) a forward that, inside `packed_products()` on the same thread
with autograd off, multiplies through the reordered copy of its weight. Every other call
(another thread, training, a copy of the model, another number format or device) runs the
module's own forward. A weight changed in place by a tensor operation (its version counter
moves) or replaced is reordered again on the next pass; a write through `.data`, which moves
no counter, is not seen: peft's `merge_adapter` and `merge_and_unload` write that way, and
nothing in this project calls them on a served model. The copies
cost the layers' weights once more in memory; the layers and the output layer (`pack`) get
copies only while they stay within `MEMORY_SHARE` of the memory available, and layers beyond
it keep their own forward. Results equal the module's own up to floating-point
summation order (MKL's own differ as much between row counts); the fused GELU differs from
GPT-2's own by at most a few units in the last place (4.8e-7).

`prepare` also gives each GPT-2 MLP (`GPT2MLP`) a forward that, under the same conditions and
while its first layer is the prepared layer itself (not a peft adapter wrapped around it: an
adapter's change must come before the activation) and no forward hook watches the layer or
its activation, runs that layer with the activation fused. Prepared modules still pickle
and deep-copy (the forward is a `functools.partial` of this module's function).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import weakref
from collections.abc import Iterator

import torch

log = logging.getLogger(__name__)

MEMORY_SHARE = 0.25  # at most this share of the memory available goes to reordered weights
ROWS_HINT = 64  # the row count oneDNN lays the weights out for (any count works)

_local = threading.local()
_prepared: weakref.WeakKeyDictionary[torch.nn.Module, Packed] = weakref.WeakKeyDictionary()
_usable: bool | None = None


class Packed:
    """One layer's weight reordered for oneDNN, kept while the weight stays the same."""

    def __init__(self, transposed: bool) -> None:
        self.transposed = transposed  # Conv1D: the weight is [in, out]
        self.tensor: torch.Tensor | None = None
        self.source: tuple[int, int] | None = None  # (data pointer, version) packed from
        self.of: weakref.ref[torch.Tensor] | None = None  # the weight tensor packed from

    def weight(self, module: torch.nn.Module) -> torch.Tensor | None:
        """The reordered weight [out, in], reordered again if the weight changed; None for a
        weight oneDNN's products do not take (moved to a GPU, another number format)."""
        weight = _weight(module)
        if weight.device.type != "cpu" or weight.dtype != torch.float32:
            return None
        try:
            source = (weight.data_ptr(), weight._version)
        except RuntimeError:  # an inference-mode tensor keeps no version: not safe to keep
            return None
        if source != self.source or self.of is None or self.of() is not weight:
            self.tensor = reorder(weight.t() if self.transposed else weight)
            self.source, self.of = source, weakref.ref(weight)
        return self.tensor


def _weight(module: torch.nn.Module) -> torch.Tensor:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _bytes(module: torch.nn.Module) -> int:
    weight = _weight(module)
    return weight.numel() * weight.element_size()


def reorder(weight: torch.Tensor) -> torch.Tensor:
    """`weight` [out, in] in oneDNN's blocked layout (an opaque `_mkldnn` tensor)."""
    with torch.inference_mode():
        return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), ROWS_HINT)


def product(
    x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None, then: str = "none"
) -> torch.Tensor:
    """x @ weight.T + bias through oneDNN, `x` [..., in], followed by `then` ("none", or a
    GELU of `GELUS`'s) in the same call."""
    attribute, algorithm = _POST_OPS[then]
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, attribute, [], algorithm)


_POST_OPS = {"none": ("none", ""), "gelu_tanh": ("gelu", "tanh"), "gelu": ("gelu", "none")}


# transformers' GELU activations oneDNN applies in the product: the tanh approximation (GPT-2's
# "gelu_new", "gelu_fast", "gelu_pytorch_tanh") and the exact one.
GELUS = {
    "NewGELUActivation": "gelu_tanh",
    "FastGELUActivation": "gelu_tanh",
    "GELUTanh": "gelu_tanh",
    "PytorchGELUTanh": "gelu_tanh",
    "GELUActivation": "gelu",
}


def usable() -> bool:
    """Whether this PyTorch has the oneDNN products and they give the plain product's numbers."""
    global _usable
    if _usable is None:
        _usable = _probe()
    return _usable


def _probe() -> bool:
    try:
        with torch.inference_mode():
            generator = torch.Generator().manual_seed(0)
            weight = torch.randn(24, 40, generator=generator)
            bias = torch.randn(24, generator=generator)
            x = torch.randn(3, 5, 40, generator=generator)
            ours = product(x, reorder(weight), bias)
            plain = torch.nn.functional.linear(x, weight, bias)
            fused = product(x, reorder(weight), bias, "gelu_tanh")
            gelu = torch.nn.functional.gelu(plain, approximate="tanh")
        return (
            ours.shape == plain.shape
            and torch.allclose(ours, plain, rtol=1e-4, atol=1e-5)
            and torch.allclose(fused, gelu, rtol=1e-4, atol=1e-5)
        )
    except Exception as error:  # noqa: BLE001 - an old or a different build: the plain way
        log.info("oneDNN products not used: %s", error)
        return False


def _layer_kind(module: torch.nn.Module) -> bool | None:
    """True for a Conv1D ([in, out] weight), False for an nn.Linear, None for neither."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None
    if weight.dtype != torch.float32 or weight.device.type != "cpu":
        return None
    if type(module) is torch.nn.Linear:
        return False
    if type(module).__name__ == "Conv1D" and type(module).__module__.startswith("transformers"):
        return True
    return None


def _available_bytes() -> int:
    """The memory available: the machine's, or less where a container's limit says so."""
    available = 0
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit) as first, open(used) as second:
                cap, spent = first.read().strip(), second.read().strip()
        except OSError:
            continue
        if cap.isdigit() and spent.isdigit() and int(cap) < 2**60:  # "max": no limit
            available = min(available, max(int(cap) - int(spent), 0))
    return available


def pack(module: torch.nn.Module) -> Packed | None:
    """The module's `Packed` (a float32 CPU nn.Linear or Conv1D), made on first asking while
    the reordered weights stay within `MEMORY_SHARE` of the memory available; None where
    oneDNN is not usable, the module is neither, or the budget is spent."""
    if module in _prepared:
        return _prepared[module]
    kind = _layer_kind(module)
    if kind is None or not usable():
        return None
    size = _bytes(module)
    spent = sum(_bytes(m) for m in list(_prepared))
    if spent + size > MEMORY_SHARE * _available_bytes():
        log.info("oneDNN products: memory budget reached; other layers keep their own")
        return None
    _prepared[module] = packed = Packed(transposed=kind)
    return packed


def forget(module: torch.nn.Module) -> None:
    """Drop the module's reordered weight (a layer whose forward was not replaced)."""
    _prepared.pop(module, None)


def prepare(model: torch.nn.Module) -> int:
    """Give the model's float32 CPU linear layers (not its output layer) the packed forward;
    returns how many layers have it. Idempotent; a no-op where oneDNN is not usable."""
    head = None
    get_head = getattr(model, "get_output_embeddings", None)
    if callable(get_head):
        head = get_head()
    count = 0
    for module in model.modules():
        if _is_gpt2_mlp(module):
            module.forward = functools.partial(_gpt2_mlp_forward, module)
        if module is head or _layer_kind(module) is None:
            continue
        if pack(module) is None:
            break
        module.forward = functools.partial(_forward, module)
        count += 1
    return count


def _is_gpt2_mlp(module: torch.nn.Module) -> bool:
    kind = type(module)
    return kind.__name__ == "GPT2MLP" and kind.__module__.startswith("transformers")


def _packed_weight(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The module's reordered weight where this pass may multiply through it, else None."""
    packed = _prepared.get(module) if getattr(_local, "on", False) else None
    if (
        packed is None
        or torch.is_grad_enabled()
        or x.dtype != torch.float32
        or x.device.type != "cpu"
    ):
        return None
    return packed.weight(module)


def _hooked(module: torch.nn.Module) -> bool:
    """Whether forward hooks (the module's own or global ones) would see its calls."""
    hooks = torch.nn.modules.module
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
    )


def _bias(module: torch.nn.Module) -> torch.Tensor | None:
    bias = module.bias
    return bias if isinstance(bias, torch.Tensor) else None


def _forward(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A prepared layer's forward: the packed product inside `packed_products()`, else the
    module's own (bound to the module, so a deep copy of the model binds its copy)."""
    weight = _packed_weight(module, x)
    if weight is not None:
        return product(x, weight, _bias(module))
    return type(module).forward(module, x)


def _gpt2_mlp_forward(mlp: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """GPT2MLP's forward (first layer, activation, second layer, dropout) with the activation
    fused into the first layer's product where it may be; else the MLP's own."""
    first, act, second, dropout = mlp.c_fc, mlp.act, mlp.c_proj, mlp.dropout
    then = GELUS.get(type(act).__name__)
    assert isinstance(first, torch.nn.Module) and isinstance(act, torch.nn.Module)
    assert callable(second) and callable(dropout)
    if _hooked(first) or _hooked(act):  # someone watches them: each is called as it is
        then = None
    weight = _packed_weight(first, hidden) if then is not None else None
    if weight is None or then is None:
        return type(mlp).forward(mlp, hidden)
    return dropout(second(product(hidden, weight, _bias(first), then)))


@contextlib.contextmanager
def packed_products() -> Iterator[None]:
    """Within this block this thread's passes multiply prepared layers by oneDNN."""
    before = getattr(_local, "on", False)
    _local.on = True
    try:
        yield
    finally:
        _local.on = before
