"""LitServe's OpenAISpec serving the example's language model on the CPU: POST /v1/chat/completions.

    python -m examples.llm.server --port 8000 --workers 2

Each of the `--workers` inference processes loads the model (model.py; built into .cache/llm/
first when missing) on one torch thread and generates one answer at a time, a token per chunk,
exactly `max_tokens` of them (default 64), streamed or whole as the request asks; the usage
(prompt tokens by the model's tokenizer, the tokens generated) comes with the last chunk. GET
/health answers 200 once every worker has loaded the model, 503 before.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass

import litserve as ls
import torch
from fastapi import HTTPException
from litserve.specs.openai import ChatCompletionRequest, ChatMessage, OpenAISpec

from examples.llm.build import build
from examples.llm.model import CACHE, LanguageModel

DEFAULT_MAX_TOKENS = 64


@dataclass(frozen=True)
class Generation:
    prompt_ids: list[int]
    max_tokens: int


def chat_prompt(messages: list[ChatMessage]) -> str:
    """The conversation as the model reads it, one `role: text` line a message, then the turn
    it answers. A message's parts that are not text (images, audio) are left out."""
    lines = []
    for message in messages:
        content = message.content or ""
        if not isinstance(content, str):
            content = " ".join(part.text for part in content if part.type == "text")
        lines.append(f"{message.role}: {content}")
    return "\n".join([*lines, "assistant:"])


class ChatModel(ls.LitAPI):
    def setup(self, device: str) -> None:
        # One core per worker: REPLICAS workers are REPLICAS cores, as a model worker of ours.
        torch.set_num_threads(1)
        self.language_model = LanguageModel()

    def decode_request(self, request: ChatCompletionRequest) -> Generation:
        prompt_ids = self.language_model.encode(chat_prompt(request.messages))
        max_tokens = request.max_completion_tokens or request.max_tokens or DEFAULT_MAX_TOKENS
        if len(prompt_ids) + max_tokens > self.language_model.context:
            raise HTTPException(
                400,
                f"{len(prompt_ids)} prompt tokens and max_tokens {max_tokens} exceed the"
                f" context of {self.language_model.context} tokens",
            )
        return Generation(prompt_ids, max_tokens)

    def predict(self, generation: Generation) -> Iterator[dict]:
        # OpenAISpec streams each output as a chunk and puts the usage of the last one in the
        # stream's final chunk (and sums it into a whole answer's), so only the last carries it.
        tokens = self.language_model.generate(generation.prompt_ids, generation.max_tokens)
        for index, text in enumerate(tokens, 1):
            output = {"role": "assistant", "content": text}
            if index == generation.max_tokens:
                prompt_tokens = len(generation.prompt_ids)
                output.update(
                    prompt_tokens=prompt_tokens,
                    completion_tokens=index,
                    total_tokens=prompt_tokens + index,
                )
            yield output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="inference processes")
    arguments = parser.parse_args()
    if not CACHE.exists():
        # Here, before the workers start, so that they do not each build it at once.
        build()
    api = ChatModel(spec=OpenAISpec())
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=arguments.workers)
    server.run(host=arguments.host, port=arguments.port, generate_client_file=False)


if __name__ == "__main__":
    main()
