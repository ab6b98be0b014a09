"""Which prompts joining together are prefilled in one forward pass.

A prefill pass pads every prompt on the left to its longest, and the padding costs as much
arithmetic as real tokens: one 200-token prompt among thirty-one 10-token ones would make the
pass compute 6,400 positions for 510 real ones. Each pass also has a fixed cost (the weights read
once more, the model's own Python), so prompts of like length go together: sorted by length,
cut where a further pass costs less than the padding it saves. The cut is the cheapest one
(dynamic programming over the sorted lengths, cut only where the length changes).

`PASS_COST` is that fixed cost in prompt positions. On the 2-core test machine one position of
GPT-2 small costs about 1 ms of prefill and a pass's fixed part 15-30 ms; on a GPU padding is
nearly free next to a pass, so prompts go together unless the padding is very large.
"""

from __future__ import annotations

import torch

PASS_COST = {"cpu": 32}  # prompt positions one more pass is worth, by device type
OTHER_PASS_COST = 4096  # GPUs and other devices


def pass_cost(device: torch.device) -> int:
    """A further prefill pass's fixed cost on `device`, in prompt positions."""
    return PASS_COST.get(device.type, OTHER_PASS_COST)


def prompt_groups(lengths: list[int], cost: int) -> list[list[int]]:
    """Indices into `lengths`, grouped: each group one pass, shortest prompts first, so that
    the positions computed (group size x its longest) plus `cost` per pass are fewest."""
    if not lengths:
        return []
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    ranked = [lengths[i] for i in order]
    # A pass never ends between two prompts of one length: only these are cut points.
    ends = [0] + [j for j in range(1, len(ranked)) if ranked[j] != ranked[j - 1]]
    ends.append(len(ranked))
    # best[j]: the cheapest way to prefill the j shortest; cut[j]: where its last pass starts.
    best, cut = {0: 0}, {0: 0}
    for k, j in enumerate(ends[1:], start=1):
        best[j], cut[j] = min((best[i] + (j - i) * ranked[j - 1] + cost, i) for i in ends[:k])
    groups: list[list[int]] = []
    end = len(ranked)
    while end > 0:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]
