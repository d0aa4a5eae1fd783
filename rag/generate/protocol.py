"""What every text generator offers: a streamed reply, and optionally the probability of its first token.

The backends: `llama_cpp` (default), `hf_transformers`, `openai_server`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, runtime_checkable

# P(Yes) when neither Yes nor No is among the reply's likely first tokens: even odds, no evidence either way.
EVEN_ODDS = 0.5
# Tokens a reply may take unless the caller says otherwise; chosen by hand for short replies.
MAX_TOKENS = 96


class Message(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding settings. Decoding is always greedy, so that answers are reproducible."""

    max_tokens: int = MAX_TOKENS
    # A GBNF grammar the output must follow (llama.cpp only; others ignore it).
    grammar: str | None = None


class Generator(Protocol):
    """Streams the assistant's reply to a chat, piece by piece."""

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]: ...


@runtime_checkable
class NextTokenScorer(Protocol):
    """The probability that a reply to `messages` starts with one of `words`."""

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float: ...
