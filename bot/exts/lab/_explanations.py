"""What each decoding method does, in the project's own words.

The lab asks groups to compare the methods and guess first; /explain shows these only after
the instructor reveals them.
"""

EXPLANATIONS = {
    "greedy": (
        "Greedy search",
        "At every step the model scores every token in its vocabulary, and greedy search "
        "simply takes the single most likely one. It never looks ahead, so the same prompt "
        "always gives the same text, and it easily gets stuck repeating a phrase: once a "
        "loop is the most likely continuation, it stays the most likely.",
    ),
    "beam": (
        "Beam search (5 beams)",
        "Beam search keeps the 5 most likely partial continuations (the beams) instead of "
        "one. Each step extends every beam by its likely next tokens and keeps the 5 best "
        "sequences overall, scored by their total probability. It finds text that is likely "
        "as a whole, not just token by token, which tends to be fluent but safe and generic, "
        "and it can still repeat itself.",
    ),
    "contrastive": (
        "Contrastive search",
        "Contrastive search looks at the few most likely next tokens (top_k, 4 here) and "
        "picks the one that balances being likely with being different from what was "
        "already written. Penalty alpha (0.6 here) sets that balance: it penalises a "
        "candidate whose internal representation is very similar to an earlier token's, "
        "which keeps the text coherent while avoiding loops (Su et al., 2022).",
    ),
    "sampling": (
        "Random sampling",
        "Random sampling draws the next token at random, each token with its probability: "
        "likely tokens are picked often, unlikely ones sometimes. The text is varied and "
        "surprising, sometimes nonsensical. Temperature reshapes the probabilities first "
        "(below 1 sharper, above 1 flatter); top-k and top-p only allow the likeliest "
        "tokens; a seed makes the draw repeatable.",
    ),
}
