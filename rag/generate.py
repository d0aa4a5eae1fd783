"""Text generation behind one protocol: llama.cpp (default) and transformers backends."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

from embeddings.encoder import ModelLoadError


class Message(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding settings; greedy by default so that answers are reproducible."""

    max_tokens: int = 96
    temperature: float = 0.0
    # A GBNF grammar the output must follow (llama.cpp only; others ignore it).
    grammar: str | None = None
    stop: tuple[str, ...] = ()


class Generator(Protocol):
    """Streams the assistant's reply to a chat, piece by piece."""

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]: ...


class LlamaCppGenerator:
    """A GGUF model run by llama.cpp on the CPU; one generation at a time."""

    def __init__(self, model_path: Path, n_ctx: int = 2048, n_threads: int | None = None) -> None:
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
                n_threads=n_threads or os.cpu_count() or 2,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as err:
            raise ModelLoadError(f"llama.cpp could not load {model_path}: {err}") from err
        self.name = Path(model_path).name
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        with self._lock:  # one context, so one generation at a time
            stream = self._llm.create_chat_completion(
                list(messages),  # type: ignore[arg-type]
                temperature=options.temperature,
                max_tokens=options.max_tokens,
                stream=True,
                grammar=self._grammar(options.grammar),
                stop=list(options.stop) or None,
            )
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                if piece:
                    yield piece

    def p_yes(self, messages: Sequence[Message]) -> float:
        """Probability mass of "Yes" against "No" for the first token of the reply."""
        import math

        prompt = self._chat_prompt(messages)
        with self._lock:
            out = self._llm.create_completion(prompt, max_tokens=1, temperature=0.0, logprobs=20)
        top = out["choices"][0]["logprobs"]["top_logprobs"][0]  # type: ignore[index]
        yes = sum(math.exp(lp) for tok, lp in top.items() if tok.strip().lower() == "yes")
        no = sum(math.exp(lp) for tok, lp in top.items() if tok.strip().lower() == "no")
        return yes / (yes + no) if yes + no > 0 else 0.5

    def _chat_prompt(self, messages: Sequence[Message]) -> str:
        """The model's own chat template applied to `messages`, ready for a reply."""
        from jinja2 import Template

        template = self._llm.metadata.get("tokenizer.chat_template", "")
        return Template(template).render(messages=list(messages), add_generation_prompt=True)

    def _grammar(self, text: str | None) -> Any:
        if text is None:
            return None
        if text not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]


class TransformersGenerator:
    """Any causal LM that transformers can load: a model folder, or a GGUF file (dequantised)."""

    def __init__(self, model_path: Path, n_threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as err:
            raise ModelLoadError("the transformers backend needs torch and transformers: run `make setup`") from err
        if n_threads:
            torch.set_num_threads(n_threads)
        path = Path(model_path)
        kwargs: dict[str, Any] = {}
        folder = str(path)
        if path.suffix == ".gguf":
            folder, kwargs["gguf_file"] = str(path.parent), path.name
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            self._model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
        except Exception as err:  # transformers raises many types for a missing or broken model
            raise ModelLoadError(f"transformers could not load {model_path}: {err}") from err
        self._model.eval()
        self.name = path.name
        self._lock = threading.Lock()

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(**inputs, max_new_tokens=options.max_tokens, do_sample=False, streamer=streamer)
        if options.temperature > 0:
            kwargs.update(do_sample=True, temperature=options.temperature)

        def run() -> None:
            with torch.inference_mode():
                self._model.generate(**kwargs)

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            text = ""
            for piece in streamer:
                text += piece
                if any(s in text for s in options.stop):
                    break
                yield piece
            worker.join()
