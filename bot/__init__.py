"""LLM Lab Bot: the Discord side of the "How language models work" lab.

This package knows Discord and never imports torch; model work goes through
`model_runner.client`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-lab-bot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
