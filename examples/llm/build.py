"""Make the example's language model, with no download: `python -m examples.llm.build`.

A byte-level BPE tokenizer trained on locust/corpus.txt (public-domain text, kept where the load
generator draws synthetic prompts from it) and a GPT-2 of random weights, seeded, saved into
.cache/llm/; then how fast it generates on one core. The server builds it when the folder is
missing. The same seed and corpus make the same model.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel

from examples.llm.model import CACHE, END_OF_TEXT, MODEL_FOLDER, TOKENIZER_FILE, LanguageModel

CORPUS = Path(__file__).parents[2] / "locust" / "corpus.txt"
SEED = 0
VOCABULARY = 1024  # at most: a few KB of text may not hold that many merges
# Small enough that one core generates about a hundred tokens a second, so a sweep is quick.
SHAPE = {"n_positions": 512, "n_embd": 256, "n_layer": 6, "n_head": 4}


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCABULARY,
        min_frequency=2,
        special_tokens=[END_OF_TEXT],
        # Every byte, so any prompt encodes, whatever characters it holds.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.read_text().split("\n\n"), trainer)
    return tokenizer


def random_model(tokenizer: Tokenizer) -> GPT2LMHeadModel:
    torch.manual_seed(SEED)
    end_of_text = tokenizer.token_to_id(END_OF_TEXT)
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(),
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        **SHAPE,
    )
    return GPT2LMHeadModel(config).eval()


def build(folder: Path = CACHE) -> None:
    """The tokenizer and the model into `folder`, whole or not at all: they are written beside
    it and renamed, so a server never loads a half-written folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        tokenizer = train_tokenizer()
        tokenizer.save(str(staging / TOKENIZER_FILE))
        random_model(tokenizer).save_pretrained(staging / MODEL_FOLDER)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=CACHE)
    arguments = parser.parse_args()
    if arguments.folder.exists():
        shutil.rmtree(arguments.folder)
    build(arguments.folder)
    torch.set_num_threads(1)
    language_model = LanguageModel(arguments.folder)
    parameters = sum(weight.numel() for weight in language_model.model.parameters())
    speed = language_model.tokens_per_s(CORPUS.read_text()[:400])
    print(
        f"{arguments.folder}: GPT-2 {SHAPE}, {parameters / 1e6:.1f} M parameters, vocabulary"
        f" {language_model.tokenizer.get_vocab_size()}; {speed:.0f} tokens/s on one core"
    )


if __name__ == "__main__":
    main()
