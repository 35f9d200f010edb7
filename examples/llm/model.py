"""The example's language model: a small GPT-2 of random weights and a byte-level BPE tokenizer,
both made here by `python -m examples.llm.build` (no download), loaded and run one token at a time.

Its generation is real, a forward pass per token over a KV cache, greedy, and its output is
noise: the weights were never trained. It never stops early: end-of-text cannot be drawn, so an
answer has exactly the tokens asked for, as a benchmark's `ignore_eos` asks of vLLM.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "llm"
TOKENIZER_FILE = "tokenizer.json"
MODEL_FOLDER = "model"
END_OF_TEXT = "<|endoftext|>"


class LanguageModel:
    def __init__(self, folder: Path = CACHE) -> None:
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.model = GPT2LMHeadModel.from_pretrained(folder / MODEL_FOLDER).eval()
        self.context = self.model.config.n_positions
        self.end_of_text = self.tokenizer.token_to_id(END_OF_TEXT)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    @torch.inference_mode()
    def generate(self, prompt_ids: list[int], max_tokens: int) -> Iterator[str]:
        """Each of the `max_tokens` tokens that follow the prompt, as text, when computed; the
        prompt and they must fit in `context`."""
        next_input, cache = torch.tensor([prompt_ids]), None
        for _ in range(max_tokens):
            output = self.model(input_ids=next_input, cache=cache, use_cache=True)
            cache, logits = output.cache, output.logits[0, -1]
            logits[self.end_of_text] = -torch.inf
            token = int(logits.argmax())
            # One token's bytes may be part of a character: it then reads as U+FFFD, never as
            # nothing, so every token is a chunk with content.
            yield self.tokenizer.decode([token])
            next_input = torch.tensor([[token]])

    def tokens_per_s(self, prompt: str, tokens: int = 200) -> float:
        """How fast it generates on the threads torch has, from a prompt, its prefill included."""
        started = time.perf_counter()
        for _ in self.generate(self.encode(prompt), tokens):
            pass
        return tokens / (time.perf_counter() - started)
