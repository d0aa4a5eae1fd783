"""Generation by an OpenAI-compatible server (vLLM, llama.cpp's server, TGI) over the chat completions API.

`connect()` checks the server once: that it answers, that it serves the model, and whether it returns
`top_logprobs`. A server that does gets an `OpenAIScoringGenerator` (a `NextTokenScorer`, so the
pipeline's P(NONE) abstention probe runs); one that does not gets a plain `OpenAIGenerator`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embeddings.errors import ModelLoadError
from rag.generate.protocol import EVEN_ODDS, GenerationOptions, Message
from rag.language import NO, YES
from rag.text import squash

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)

# The most alternatives the OpenAI API (and vLLM by default) return per position. At most 9 tokens can
# each have p >= 0.1, so any word at or above an abstention threshold of 0.05 is among the top 20.
TOP_LOGPROBS = 20
# Local servers need no key, but the client insists on one; never fall back to OPENAI_API_KEY,
# which would hand a real key to whatever server RAG_OPENAI_BASE_URL names.
NO_KEY = "no-key"
# The one-token request that checks a server at start, and whether it returns top_logprobs.
PROBE: tuple[Message, ...] = ({"role": "user", "content": "Reply with one word: ready?"},)


class GeneratorUnavailable(ModelLoadError):
    """The generation server could not be used; the message names the URL and what to do."""


@dataclass(frozen=True)
class ServerConfig:
    """Where the server is and how to talk to it."""

    base_url: str
    model: str = ""  # empty: the one model the server lists
    api_key: str | None = None
    timeout_s: float = 60.0  # the default of RAG_OPENAI_TIMEOUT (rag/settings.py)
    max_retries: int = 2  # the default of RAG_OPENAI_MAX_RETRIES (rag/settings.py)
    # Send GBNF grammars as the request's `grammar` field (llama.cpp's servers accept it).
    send_grammar: bool = True

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"ServerConfig(base_url={self.base_url!r}, model={self.model!r})"


class OpenAIGenerator:
    """Streams chat replies from an OpenAI-compatible server; greedy decoding by default."""

    def __init__(self, client: OpenAI, model: str, config: ServerConfig) -> None:
        self._client = client
        self.model = model
        self.config = config
        self.name = f"{model} at {config.base_url}"
        self._warned_grammar = False

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        extra: dict[str, Any] = {}
        if options.grammar is not None:
            if self.config.send_grammar:
                extra["grammar"] = options.grammar
            elif not self._warned_grammar:
                self._warned_grammar = True
                log.warning(
                    "the answer grammar is not sent to %s (RAG_OPENAI_GRAMMAR=false): the output shape is not enforced",
                    self.config.base_url,
                )
        chat: list[Any] = [{"role": m["role"], "content": m["content"]} for m in messages]
        try:
            stream = self._client.chat.completions.create(
                model=self.model,
                messages=chat,
                max_tokens=options.max_tokens,
                temperature=0.0,
                stream=True,
                extra_body=extra or None,
            )
            with stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except _openai_errors() as err:
            raise explain(err, self.config, self.model) from err


class OpenAIScoringGenerator(OpenAIGenerator):
    """An OpenAIGenerator for a server that returns `top_logprobs`: also a NextTokenScorer."""

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float:
        """Probability that the reply's first token is the first token of one of `words`."""
        return first_token_probability(self._top_first_tokens(messages), words)

    def p_yes(self, messages: Sequence[Message]) -> float:
        """P("Yes") / (P("Yes") + P("No")) for the first token of the reply."""
        top = self._top_first_tokens(messages)
        yes = first_token_probability(top, YES)
        no = first_token_probability(top, NO)
        return yes / (yes + no) if yes + no > 0 else EVEN_ODDS

    def _top_first_tokens(self, messages: Sequence[Message]) -> dict[str, float]:
        try:
            top = top_first_tokens(self._client, self.model, [dict(m) for m in messages])
        except _openai_errors() as err:
            raise explain(err, self.config, self.model) from err
        if top is None:
            raise GeneratorUnavailable(
                f"the server at {self.config.base_url} stopped returning top_logprobs for {self.model!r}"
            )
        return top


def connect(config: ServerConfig) -> OpenAIGenerator:
    """A generator for the server in `config`, checked to answer; a scorer too when it returns top_logprobs."""
    try:
        from openai import OpenAI
    except ImportError as err:
        raise ModelLoadError("the openai backend needs the openai package: run `make setup`") from err
    client = OpenAI(
        base_url=config.base_url,
        api_key=config.api_key or NO_KEY,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )
    model = config.model
    try:
        model = pick_model(config.model, served_models(client, config.model), config.base_url)
        scorer = top_first_tokens(client, model, list(PROBE), unsupported_ok=True) is not None
    except _openai_errors() as err:
        raise explain(err, config, model) from err
    if not scorer:
        log.info("%s returns no top_logprobs: the P(NONE) abstention probe is off", config.base_url)
        return OpenAIGenerator(client, model, config)
    return OpenAIScoringGenerator(client, model, config)


def pick_model(wanted: str, served: Sequence[str], base_url: str) -> str:
    """The model to request: `wanted` if served, or the only model served when none is named.

    >>> pick_model("", ["qwen"], "http://h/v1")
    'qwen'
    >>> pick_model("qwen", ["qwen", "llama"], "http://h/v1")
    'qwen'
    """
    if wanted and (wanted in served or not served):
        return wanted
    listed = ", ".join(repr(s) for s in served) or "none"
    if wanted:
        raise GeneratorUnavailable(
            f"the server at {base_url} does not serve the model {wanted!r} (it lists {listed}); "
            "set RAG_OPENAI_MODEL to one of those"
        )
    if len(served) == 1:
        return served[0]
    raise GeneratorUnavailable(
        f"the server at {base_url} lists {listed}: set RAG_OPENAI_MODEL to the one to use"
        if served
        else f"the server at {base_url} lists no models: set RAG_OPENAI_MODEL to the model's name"
    )


def served_models(client: OpenAI, wanted: str) -> list[str]:
    """The model names the server lists; none when it has no model list and a model is named."""
    from openai import NotFoundError

    try:
        return [m.id for m in client.models.list()]
    except NotFoundError:
        if wanted:
            return []
        raise


def top_first_tokens(
    client: OpenAI, model: str, messages: list[Any], unsupported_ok: bool = False
) -> dict[str, float] | None:
    """{token text: probability} for the most likely first tokens of the reply, or None if not returned.

    With `unsupported_ok`, a server that fails the request for any reason but a wrong key, URL or
    model also gives None (llama-cpp-python's server started with `--logits_all false` answers 500).
    """
    import math

    from openai import APIStatusError

    try:
        reply = client.chat.completions.create(
            model=model,
            messages=messages,
            max_tokens=1,
            temperature=0.0,
            logprobs=True,
            top_logprobs=TOP_LOGPROBS,
        )
    except APIStatusError as err:
        if unsupported_ok and err.status_code not in (401, 403, 404):
            log.info("no top_logprobs from %s: %s", client.base_url, _short(err))
            return None
        raise
    choice = reply.choices[0] if reply.choices else None
    content = choice.logprobs.content if choice and choice.logprobs else None
    if not content or not content[0].top_logprobs:
        return None
    top: dict[str, float] = {}
    for alt in content[0].top_logprobs:
        top[alt.token] = top.get(alt.token, 0.0) + math.exp(alt.logprob)
    return top


def first_token_probability(top: dict[str, float], words: Sequence[str]) -> float:
    """The probability that the first token is one of `words`, read from the top alternatives.

    Words are matched whole: the client does not know the server's tokenizer, and counting a
    shorter token that merely begins a word ("N" for "NONE") overstated P(NONE) on real questions.
    A word the model splits into several tokens therefore counts 0 (NONE, Yes and No are single
    tokens for Qwen2.5); so does a word less likely than every listed token.

    >>> first_token_probability({"NONE": 0.25, "N": 0.05, "The": 0.6}, ["NONE"])
    0.25
    >>> round(first_token_probability({"Yes": 0.7, " Yes": 0.1, "No": 0.2}, ["Yes", " Yes"]), 2)
    0.8
    >>> first_token_probability({"N": 0.3, "The": 0.6}, ["NONE"])
    0.0
    """
    return float(sum(top[w] for w in set(words) if w in top))


def explain(err: Exception, config: ServerConfig, model: str) -> GeneratorUnavailable:
    """A one-line error for a failed request: what happened at which URL, and what to do."""
    import openai

    url = config.base_url
    if isinstance(err, openai.APITimeoutError):
        return GeneratorUnavailable(
            f"the generation server at {url} did not answer within {config.timeout_s:g} s; "
            "check that it is not overloaded, or raise RAG_OPENAI_TIMEOUT"
        )
    if isinstance(err, openai.APIConnectionError):
        return GeneratorUnavailable(
            f"cannot reach the generation server at {url}: start it, or set RAG_OPENAI_BASE_URL to its address "
            "(including /v1)"
        )
    if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
        return GeneratorUnavailable(
            f"the generation server at {url} refused the API key (HTTP {err.status_code}): set RAG_OPENAI_API_KEY"
        )
    if isinstance(err, openai.NotFoundError):
        what = f" for model {model!r}" if model else ""
        return GeneratorUnavailable(
            f"the generation server at {url} answered 404{what}: check RAG_OPENAI_BASE_URL "
            "(it usually ends in /v1) and RAG_OPENAI_MODEL"
        )
    if isinstance(err, openai.APIStatusError):
        hint = ""
        if err.status_code in (400, 422) and "grammar" in str(err).lower():
            hint = "; if it does not accept a GBNF `grammar` field, set RAG_OPENAI_GRAMMAR=false"
        return GeneratorUnavailable(
            f"the generation server at {url} answered HTTP {err.status_code}: {_short(err)}{hint}"
        )
    return GeneratorUnavailable(f"the generation server at {url} failed: {_short(err)}")


# A server's error message is cut to this many characters in the one-line error; chosen by hand.
ERROR_CHARS = 300


def _short(err: Exception) -> str:
    text = squash(str(err))
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def _openai_errors() -> tuple[type[Exception], ...]:
    import openai

    return (openai.OpenAIError,)
