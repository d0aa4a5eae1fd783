"""Any causal LM that transformers can load (a model folder, or a GGUF file dequantised)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from embeddings.errors import ModelLoadError
from rag.generate.protocol import EVEN_ODDS, GenerationOptions, Message
from rag.language import NO, YES


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

        inputs = self._inputs(messages)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = {**inputs, "max_new_tokens": options.max_tokens, "do_sample": False}
        kwargs["streamer"] = streamer

        def run() -> None:
            with torch.inference_mode():
                self._model.generate(**kwargs)

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            yield from streamer
            worker.join()

    def next_token_probability(self, messages: Sequence[Message], words: Sequence[str]) -> float:
        """Probability that the reply's first token is the first token of one of `words`."""
        import torch

        with self._lock, torch.inference_mode():
            logits = self._model(**self._inputs(messages)).logits[0, -1]
        probs = torch.softmax(logits.float(), dim=-1)
        ids = {self._tokenizer.encode(w, add_special_tokens=False)[0] for w in words}
        return float(sum(probs[i] for i in ids))

    def p_yes(self, messages: Sequence[Message]) -> float:
        """P("Yes") / (P("Yes") + P("No")) for the first token of the reply."""
        yes = self.next_token_probability(messages, YES)
        no = self.next_token_probability(messages, NO)
        return yes / (yes + no) if yes + no > 0 else EVEN_ODDS

    def _inputs(self, messages: Sequence[Message]) -> dict[str, Any]:
        encoded = self._tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"]} for m in messages],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        return dict(encoded)  # type: ignore[arg-type]
