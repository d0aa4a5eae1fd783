"""A GGUF model run by llama.cpp on the CPU (the default backend)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from embeddings.errors import ModelLoadError
from rag.generate.protocol import EVEN_ODDS, GenerationOptions, Message
from rag.language import NO, YES

# The context window, in tokens: the default of RAG_CONTEXT_TOKENS (rag/settings.py).
CONTEXT_TOKENS = 2048
# Prompt-prefix states kept: a few prompt shapes (answer, judge) at most; chosen by hand.
PREFIX_STATES = 4
# Threads when neither the caller nor the machine says how many.
FALLBACK_THREADS = 2


class LlamaCppGenerator:
    """A GGUF model run by llama.cpp on the CPU; one generation at a time."""

    def __init__(self, model_path: Path, n_ctx: int = CONTEXT_TOKENS, n_threads: int | None = None) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise ModelLoadError("llama.cpp backend needs llama-cpp-python: run `make setup`") from err
        if not Path(model_path).is_file():
            raise ModelLoadError(f"no model file at {model_path}; set RAG_GENERATOR_MODEL to a .gguf file")
        try:
            self._llm = Llama(
                str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or os.cpu_count() or FALLBACK_THREADS,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelLoadError(f"llama.cpp could not load {model_path}: {err}") from err
        self.name = Path(model_path).name
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._template: Any = None
        self._prefix_states: dict[tuple[int, ...], Any] = {}

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        tokens, stable = self._prompt_tokens(messages)
        with self._lock:  # one context, so one generation at a time
            self._start_from(tokens, stable)
            stream = self._llm.create_completion(
                tokens,  # type: ignore[arg-type]
                temperature=0.0,
                max_tokens=options.max_tokens,
                stream=True,
                grammar=self._grammar(options.grammar),
            )
            for chunk in stream:
                piece = chunk["choices"][0]["text"]  # type: ignore[index]
                if piece:
                    yield piece

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float:
        """Probability that the reply's first token is the first token of one of `words`.

        The prompt stays evaluated, so a generation that follows with the same messages starts at once.
        """
        import numpy as np

        tokens, stable = self._prompt_tokens(messages)
        with self._lock:
            self._start_from(tokens, stable)
            self._llm.eval(tokens[self._llm.n_tokens :])
            logits = np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._llm.n_vocab(),)).copy()
        logits -= logits.max()
        probs = np.exp(logits)
        probs /= probs.sum()
        ids = {self._llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
        return float(sum(probs[i] for i in ids))

    def p_yes(self, messages: Sequence[Message]) -> float:
        """P("Yes") / (P("Yes") + P("No")) for the first token of the reply."""
        yes = self.next_token_probability(messages, YES)
        no = self.next_token_probability(messages, NO)
        return yes / (yes + no) if yes + no > 0 else EVEN_ODDS

    def _prompt_tokens(self, messages: Sequence[Message]) -> tuple[list[int], int]:
        """The model's own chat template applied to `messages`, ready for a reply, as tokens; and how
        many of them belong to the constant part (every message but the last)."""
        from jinja2 import Template

        if self._template is None:
            self._template = Template(self._llm.metadata.get("tokenizer.chat_template", ""))
        prompt = self._template.render(messages=list(messages), add_generation_prompt=True)
        tokens = self._llm.tokenize(prompt.encode(), add_bos=False, special=True)
        head = (
            self._template.render(messages=list(messages)[:-1], add_generation_prompt=False)
            if len(messages) > 1
            else ""
        )
        head_tokens = self._llm.tokenize(head.encode(), add_bos=False, special=True) if head else []
        stable = next((i for i, (a, b) in enumerate(zip(head_tokens, tokens)) if a != b), len(head_tokens))
        return tokens, min(stable, len(tokens) - 1)

    def _start_from(self, tokens: list[int], stable: int) -> None:
        """Put the context where every reading of `tokens` starts, whatever was asked before.

        Either the exact prompt is already evaluated (a second call for the same question), or the
        context is set to the constant prefix `tokens[:stable]`, evaluated alone once and restored
        from its saved state. Reusing a longer, accidental common prefix would change llama.cpp's
        arithmetic with the reuse depth, and so the answer with what the process answered before.
        """
        llm = self._llm
        if llm.n_tokens == len(tokens) and llm.input_ids[: llm.n_tokens].tolist() == tokens:
            return
        key = tuple(tokens[:stable])
        state = self._prefix_states.get(key)
        if state is None:
            llm.reset()
            if stable:
                llm.eval(list(key))
            state = llm.save_state()
            self._prefix_states[key] = state
            while len(self._prefix_states) > PREFIX_STATES:
                self._prefix_states.pop(next(iter(self._prefix_states)))
        else:
            llm.load_state(state)

    def _grammar(self, text: str | None) -> Any:
        if text is None:
            return None
        if text not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]
