"""The model side of the lab: loading, decoding, the batching engine and its clients.

Importing this package (or `model_runner.api` / `model_runner.client`) does not import torch;
only the parts that run the model do, and they run in the runner's worker thread.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-lab-bot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
