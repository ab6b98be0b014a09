"""`tiny`: a random-weight GPT-2 with a small trained tokenizer, for tests and smoke runs.

It answers in seconds on any CPU and needs no download. Its text is gibberish by design:
the weights are random. Building it is deterministic, so tests can compare exact tokens.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOS = "<|endoftext|>"

# A few sentences in the lab's own words, enough for a byte-level BPE to learn common pieces.
_CORPUS = [
    "The best thing about AI is its ability to learn from examples.",
    "A language model predicts the next token from the tokens before it.",
    "Greedy search always picks the most likely token.",
    "Beam search keeps several candidate continuations and returns the best one.",
    "Contrastive search balances likely tokens against repeating what was already said.",
    "Random sampling draws the next token from the probability distribution.",
    "Fine-tuning adapts a pre-trained model to a small dataset with a shared style.",
    "Tokenisation breaks text into pieces, and each piece gets an id.",
    "Attention lets every token look back at the tokens that came before it.",
    "The loss measures how surprised the model is by the correct next token.",
    "Our group wrote twenty sentences about cooking recipes and football matches.",
    "Mix the flour with the eggs, then bake the cake for thirty minutes.",
    "Once upon a time, a curious student asked the model a question.",
]


def build_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (GPT-2 style, `Ġ` marks a leading space)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=EOS
    )


def build_tiny(
    *, n_layer: int = 2, n_head: int = 2, n_embd: int = 64, seed: int = 0
) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """A random GPT-2 (default 2 layers, 64 wide) and its tokenizer; same seed, same weights."""
    tokenizer = build_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=1024,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = GPT2LMHeadModel(config)
    finally:
        torch.random.set_rng_state(generator_state)
    model.eval()
    return model, tokenizer
