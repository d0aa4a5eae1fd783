"""Question sets: JSONL rows validated against the shared schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.schema import Turn

# The shared schema's types; a set may add its own ("yes-no", "summary"), reported under their own name.
KNOWN_TYPES = ("fact", "list", "why", "paraphrase", "multi-turn", "unanswerable", "injection")


class EvalItem(BaseModel):
    """One question with its reference answer, required strings and evidence quotes.

    A row without `answerable` is unlabelled (say, exported feedback waiting for a person): it loads,
    but is never scored.
    """

    model_config = ConfigDict(frozen=True, extra="allow")
    id: str
    question: str
    history: tuple[Turn, ...] = ()
    answerable: bool | None = None
    type: str = Field(min_length=1)
    answer: str = ""
    must_include: tuple[tuple[str, ...], ...] = ()
    # Strings whose presence makes an answer wrong (an inverted "yes,", another country's tier).
    must_not: tuple[str, ...] = ()
    evidence: tuple[str, ...] = Field(default=())
    # "held": kept out of every tuning decision and reported apart.
    split: Literal["dev", "held"] = "dev"

    @property
    def labelled(self) -> bool:
        """True once a person has said whether the report answers the question."""
        return self.answerable is not None


class DatasetError(ValueError):
    """A question set that does not follow the schema; names the file and line."""


def load_dataset(path: Path) -> list[EvalItem]:
    """Parse and validate a JSONL question set; ids must be unique."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                item = EvalItem.model_validate(json.loads(line))
            except (ValueError, ValidationError) as err:
                first = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise DatasetError(f"{path}:{number}: not a valid question row ({first})") from err
            if item.id in seen:
                raise DatasetError(f"{path}:{number}: duplicate id {item.id!r}")
            seen.add(item.id)
            items.append(item)
    if not items:
        raise DatasetError(f"{path} holds no questions")
    return items
