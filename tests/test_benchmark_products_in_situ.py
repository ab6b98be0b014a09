"""benchmarks/products_in_situ.py times the products a pass makes, by shape, and lets go."""

from __future__ import annotations

import pytest
import torch

from benchmarks.products_in_situ import TimedProducts, compare
from model_runner.engine import products

pytestmark = pytest.mark.skipif(not products.usable(), reason="no oneDNN products here")


def test_every_product_is_timed_by_its_shape_and_post_op_and_the_op_is_given_back():
    op = torch.ops.mkldnn._linear_pointwise
    packed = products.reorder(torch.randn(24, 16))
    with torch.inference_mode(), TimedProducts() as timed:
        plain = products.product(torch.randn(3, 16), packed, None)
        products.product(torch.randn(3, 16), packed, None)
        products.product(torch.randn(2, 5, 16), packed, None, "gelu_tanh")
    assert torch.ops.mkldnn._linear_pointwise is op
    assert plain.shape == (3, 24)
    assert {shape: len(times) for shape, times in timed.seconds.items()} == {
        (3, 16, 24, "none"): 2,
        (10, 16, 24, "gelu"): 1,
    }
    ranked = compare(timed.seconds, top=1)
    assert len(ranked) == 1 and ranked[0][1] in (1, 2) and ranked[0][3] > 0
