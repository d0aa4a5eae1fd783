"""`rag feedback export`: readers' verdicts as question-set rows for a person to label.

Each row follows the question-set schema (`id`, `question`, `history`, `type`) and carries the answer
that was given in fields of its own (`given_answer`, `given_citations`), never in `answer`, which the
schema keeps for the reference answer. The labels (`answerable`, `must_include`, `answer`, `evidence`)
are left out: `rag eval run` reports such rows as unlabelled until a person fills them in.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli import EXIT_OK, UsageError, settings_from
from rag.feedback import Feedback, FeedbackStore, Rating, open_feedback_store
from rag.jsonl import write_jsonl

ROW_TYPE = "feedback"
CITATION_FIELDS = ("n", "doc_id", "title", "quote", "supported")


def register(sub: Any) -> None:
    """Add `feedback` and its `export` subcommand to the `rag` command's subparsers."""
    p = sub.add_parser("feedback", help="readers' verdicts on answers, stored by the web app")
    fsub = p.add_subparsers(dest="feedback_command", required=True, parser_class=type(p))
    e = fsub.add_parser("export", help="write stored feedback as question-set rows (JSONL) to label")
    e.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    e.add_argument("--rating", choices=[r.value for r in Rating], help="only verdicts with this rating")
    e.add_argument(
        "--index-dir",
        type=Path,
        help="read feedback.sqlite3 in this index folder (default: RAG_FEEDBACK_DB, else RAG_INDEX_DIR); "
        "with RAG_DATABASE_URL set, the shared store's feedback is read instead",
    )
    e.set_defaults(run=_cmd_export)


def question_row(feedback: Feedback) -> dict[str, Any]:
    """A question-set row without labels; the given answer sits in `given_*` fields."""
    answer = feedback.answer
    return {
        "id": f"feedback-{feedback.id}",
        "question": feedback.question,
        "history": [dict(t) for t in feedback.history],
        "type": ROW_TYPE,
        "given_answer": answer.get("answer", ""),
        "given_abstained": bool(answer.get("abstained", False)),
        "given_citations": [
            {name: c.get(name) for name in CITATION_FIELDS} for c in answer.get("citations", []) if isinstance(c, dict)
        ],
        "rating": feedback.rating.value,
        "note": feedback.note,
        "provenance": dict(feedback.provenance),
        "created": feedback.created,
    }


def _cmd_export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    store = open_feedback_store(settings.feedback_path, settings.database)
    if isinstance(store, FeedbackStore) and not store.path.exists():
        raise UsageError(
            f"no feedback yet: {store.path} does not exist (the web app creates it when a reader rates an answer; "
            "RAG_FEEDBACK_DB or --index-dir says where to look)"
        )
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as feedback.jsonl")
    rating = Rating(args.rating) if args.rating else None
    rows = [question_row(f) for f in store.rows(rating)]  # read fully first: a bad database writes nothing
    try:
        written = write_jsonl(args.out, rows)
    except OSError as err:
        raise UsageError(f"cannot write {args.out} ({err.strerror or err}); choose a writable path") from err
    which = f"rated {rating.value}" if rating else "all ratings"
    print(f"wrote {written} feedback row(s) ({which}) to {args.out}")
    return EXIT_OK
