"""Fresh seeds for Random Sampling, chosen by the bot so that a reply can name its seed.

A seed the bot picks is always one that the commands' `seed` option takes (0 to 2**31 - 1),
so a student can type it into /generate to draw the same text again.
"""

from __future__ import annotations

import random

SEED_OPTION_MAX = 2**31 - 1


def fresh_seed() -> int:
    """A new seed a student could also have typed."""
    return random.randint(0, SEED_OPTION_MAX)
