"""The lab's four decoding methods: greedy, beam, contrastive search and sampling.

- `params`: the settings a student may choose, checked before anything runs (no torch).
- `processing`: per-step logit processing and token choice on `[batch, vocab]` tensors, so a
  batched engine can apply each request's settings row by row.
- `greedy`, `beam`, `contrastive`, `sampling`: one request decoded with the KV cache.
- `run.generate`: picks the method named in the parameters.

Greedy and beam search return exactly the tokens of transformers' `generate()`, and
contrastive search those of transformers 4.55's built-in version; tests check this.
Importing this package imports only `params`; the modules that run the model import torch.
"""

from model_runner.protocol import DecodingMethod, DecodingParams

__all__ = ["DecodingMethod", "DecodingParams"]
