"""Energy estimates for the environmental case study: compute time x device power.

The estimate is deliberately simple and says so: it counts only the accelerator (or CPU)
while it computes this request's share of each batch, at a fixed power draw. Set
LABBOT_DEVICE_POWER_W to your device's measured or rated power for better figures.
"""

from __future__ import annotations

import torch

# Rated board power (TDP) in watts, from the vendors' data sheets.
GPU_POWER_W = {
    "H200": 700.0,
    "H100": 700.0,
    "A100": 400.0,
    "L40": 300.0,
    "A10": 150.0,
    "L4": 72.0,
    "T4": 70.0,
}
CPU_POWER_W = 65.0  # a typical desktop/server CPU package under load
MPS_POWER_W = 30.0  # Apple silicon GPU under load
DEFAULT_GPU_POWER_W = 300.0


def typical_power_w(device: torch.device) -> float:
    """A typical power draw for the device, used when none is configured."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((w for key, w in GPU_POWER_W.items() if key in name), DEFAULT_GPU_POWER_W)
    if device.type == "mps":
        return MPS_POWER_W
    return CPU_POWER_W


def watt_hours(seconds: float, power_w: float) -> float:
    """Energy in Wh for `seconds` at `power_w`."""
    return seconds * power_w / 3600.0
