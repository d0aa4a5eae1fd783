"""The `rag` command: index, search, ask, serve; other packages add theirs (`rag eval …`).

A package adds a subcommand through the entry point group `report_rag.commands`: the entry point
is a function that takes the subparsers, adds its parser and sets `run` (args -> exit code).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from rag.schema import MAX_HISTORY_TURNS, HistoryError, Turn, parse_history
from rag.serialize import hit_json
from rag.settings import RetrievalMode
from rag.text import squash

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
COMMAND_GROUP = "report_rag.commands"
HISTORY_MAX_BYTES = 1_000_000


class UsageError(Exception):
    """Bad input from the user: exit 2 with this one-line message."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rag", description="Grounded question answering over official reports.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("index", help="ingest files or folders and build or update the index")
    p.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (.txt .md .html .pdf); default: the shipped report"
    )
    p.add_argument("--index-dir", type=Path, help="where the index lives (default: RAG_INDEX_DIR)")
    p.add_argument("--replace", action="store_true", help="index only PATHS, dropping earlier inputs")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything instead of reusing vectors")
    p.set_defaults(run=_cmd_index)

    p = sub.add_parser("search", help="ranked passages for a query, no generation")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None, help="how many passages (default: RAG_TOP_K)")
    p.add_argument("--mode", choices=[m.value for m in RetrievalMode], help="retrieval method (default: hybrid)")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='only documents whose metadata KEY equals VALUE (e.g. country="North Korea")',
    )
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_search)

    p = sub.add_parser("ask", help="a grounded answer with citations")
    p.add_argument("question")
    p.add_argument("--history", type=Path, help='JSON list of {"role": "user"|"assistant", "content": ...}')
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="only these documents")
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--json", action="store_true", help="print the answer JSON")
    p.set_defaults(run=_cmd_ask)

    p = sub.add_parser("serve", help="the chat web app and the JSON API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--index-dir", type=Path)
    p.set_defaults(run=_cmd_serve)

    for entry in entry_points(group=COMMAND_GROUP):
        entry.load()(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except ValidationError as err:  # settings: named as the user set them (RAG_TOP_K), not as fields
        from rag.settings import describe_error

        print(f"rag: error: {describe_error(err) if err.title == 'Settings' else err}", file=sys.stderr)
        return EXIT_FAIL
    except Exception as err:  # an expected failure gets one line; details go to the log
        from embeddings.errors import ModelLoadError
        from rag.index.postgres import BuildConflict, EmbedderMismatch
        from rag.index.store import IndexCorrupt
        from rag.pg import StoreUnavailable

        expected = ModelLoadError | IndexCorrupt | StoreUnavailable | EmbedderMismatch | BuildConflict
        if isinstance(err, expected | ValueError | OSError):
            print(f"rag: error: {err}", file=sys.stderr)
            return EXIT_FAIL
        raise


def settings_from(args: argparse.Namespace, **overrides):
    from rag.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "index_dir", None):
        values["index_dir"] = args.index_dir
    return Settings(**values)


def say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _cmd_index(args: argparse.Namespace) -> int:
    from app import indexing

    for path in args.paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist; give files or folders of .txt .md .html .pdf reports")
    settings = settings_from(args)
    embedder = indexing.make_embedder(settings)
    report = indexing.index_documents(
        settings, embedder, args.paths, replace=args.replace, reembed=args.rebuild, say=say
    )
    idx = report.index
    print(
        f"indexed {len(idx.documents)} document(s), {len(idx.chunks)} chunks "
        f"({report.embedded} embedded, {report.reused} reused, {len(report.skipped)} file(s) skipped) "
        f"in {report.seconds:.1f}s -> {idx.path}"
    )
    return EXIT_OK


def _parse_filters(items: list[str]) -> dict[str, str]:
    filters = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--filter takes KEY=VALUE, got {item!r}")
        filters[key.strip()] = value.strip()
    return filters


def _cmd_search(args: argparse.Namespace) -> int:
    from app import indexing
    from rag.schema import QuestionError, check_question

    query = _valid_text(args.query, "the query")
    if args.k is not None and not 1 <= args.k <= 100:
        raise UsageError("--k must be between 1 and 100")
    filters = _parse_filters(args.filter)
    settings = settings_from(args, retrieval_mode=args.mode)
    try:
        query = check_question(query, settings.answer.max_question_chars)  # the same cleaning and limit as questions
    except QuestionError as err:
        hint = " (RAG_MAX_QUESTION_CHARS)" if "limit" in str(err) else ""
        raise UsageError(str(err).replace("question", "query") + hint) from err
    retriever = indexing.make_retriever(settings, say=say)
    hits = retriever.search(query, args.k or settings.answer.top_k, filters or None)
    if args.json:
        print(json.dumps({"query": query, "hits": [hit_json(h) for h in hits]}, ensure_ascii=False))
    else:
        for h in hits:
            print(f"[{h.rank}] {h.chunk.title} — {h.chunk.location} (score {h.score:.3f})")
            print(f"    {h.chunk.text}\n")
        if not hits:
            print("no passages matched")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app import build

    settings = settings_from(args, host=args.host, port=args.port)
    web = build.build(settings, say=say).web()
    server = settings.server
    print(f"report-rag is serving on http://{server.host}:{server.port}", file=sys.stderr)
    uvicorn.run(web, host=server.host, port=server.port, log_level="warning")
    return EXIT_OK


def _valid_text(value: str, what: str) -> str:
    """`value` unless it holds bytes that were not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        byte = ord(value[err.start]) - 0xDC00 if 0xDC80 <= ord(value[err.start]) <= 0xDCFF else None
        shown = f"byte 0x{byte:02x}" if byte is not None else "a character"
        raise UsageError(
            f"{what} is not valid UTF-8 text ({shown} at character {err.start}); "
            "check the terminal's or the script's encoding"
        ) from err
    return value


def _read_history(path: Path | None, max_chars: int) -> list[Turn]:
    """The turns of a --history file, or UsageError saying what is wrong with it and the limits."""
    if path is None:
        return []
    try:
        size = path.stat().st_size
        if size > HISTORY_MAX_BYTES:
            raise UsageError(f"--history {path} is {size} bytes; the limit is {HISTORY_MAX_BYTES}")
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(f"--history {path}: cannot read it as JSON ({err.strerror or err})") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(
            f"--history {path}: cannot read it as JSON: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
            f"{err.start})"
        ) from err
    try:
        history = json.loads(text)
    except ValueError as err:
        raise UsageError(f"--history {path}: cannot read it as JSON ({err})") from err
    try:
        turns = parse_history(history, max_chars)
    except HistoryError as err:
        raise UsageError(_history_problem(err)) from err
    for number, turn in enumerate(turns, start=1):
        # JSON escapes such as "\udcff" decode to text that cannot be encoded again for the model.
        _valid_text(turn.content, f"--history turn {number}")
    return list(turns)


def _history_problem(err: HistoryError) -> str:
    """The rule a --history file breaks, in the command's words and with the setting behind the limit."""
    if err.rule == "count":
        return f"--history has {err.turns} turns; the limit is {MAX_HISTORY_TURNS}"
    if err.rule == "length":
        return (
            f"--history turn {err.number} ({err.role}) has {err.length} characters; "
            f"the limit is {err.limit} (RAG_MAX_QUESTION_CHARS)"
        )
    return '--history must be a JSON list of {"role": "user"|"assistant", "content": "..."}'


def _cmd_ask(args: argparse.Namespace) -> int:
    from app import build
    from rag.schema import QuestionError, check_question
    from rag.serialize import answer_json
    from rag.types import Answer

    settings = settings_from(args)
    try:
        question = check_question(_valid_text(args.question, "the question"), settings.answer.max_question_chars)
    except QuestionError as err:
        raise UsageError(f"{err} (RAG_MAX_QUESTION_CHARS)" if "limit" in str(err) else str(err)) from err
    history = _read_history(args.history, settings.answer.max_question_chars)
    filters = _parse_filters(args.filter)
    pipeline = build.build(settings, say=say).pipeline
    answer = None
    streamed = ""
    live = sys.stdout.isatty() and not args.json
    for event in pipeline.stream(question, history, filters or None):
        if isinstance(event, Answer):
            answer = event
        elif live and isinstance(event, str):
            streamed += event
            print(event, end="", flush=True)
    assert answer is not None
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False))
        return EXIT_OK
    if not live:
        print(answer.text)
    elif answer.text != streamed:
        print("\n\n" + answer.text)  # citations were checked and repaired after streaming
    else:
        print()
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            flag = "" if c.supported else " (not verified)"
            print(f'[{c.n}] {c.chunk.title}, {c.chunk.location}{flag}:\n    "{c.quote}"')
    elif answer.abstained and answer.hits:
        print("\nRelated passages:")
        for h in answer.hits[:3]:
            text = squash(h.chunk.text)
            print(f"- {h.chunk.title}, {h.chunk.location}: {text[:160]}…")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
