"""The `rag` command: index, search, ask, serve, eval."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rag.serialize import hit_json

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
HISTORY_MAX_BYTES = 1_000_000


class UsageError(Exception):
    """Bad input from the user: exit 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rag", description="Grounded question answering over official reports.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="ingest files or folders and build or update the index")
    p.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (.txt .md .html .pdf); default: the shipped report"
    )
    p.add_argument("--index-dir", type=Path, help="where the index lives (default: RAG_INDEX_DIR)")
    p.add_argument("--replace", action="store_true", help="index only PATHS, dropping earlier inputs")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything instead of reusing vectors")

    p = sub.add_parser("search", help="ranked passages for a query, no generation")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None, help="how many passages (default: RAG_TOP_K)")
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], help="retrieval method (default: hybrid)")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='only documents whose metadata KEY equals VALUE (e.g. country="North Korea")',
    )
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("ask", help="a grounded answer with citations")
    p.add_argument("question")
    p.add_argument("--history", type=Path, help='JSON list of {"role": "user"|"assistant", "content": ...}')
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="only these documents")
    p.add_argument("--index-dir", type=Path)
    p.add_argument("--json", action="store_true", help="print the answer JSON")

    p = sub.add_parser("serve", help="the chat web app and the JSON API")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--index-dir", type=Path)

    p = sub.add_parser("eval", help="evaluation on question sets")
    esub = p.add_subparsers(dest="eval_command", required=True, parser_class=_Parser)
    judges = ["lexical", "model", "combined"]
    e = esub.add_parser("run", help="answer a question set and write predictions, metrics and a report")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int)
    e.add_argument("--judge", choices=judges, default=None, help="entailment judge for citation metrics")
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("score", help="recompute metrics from saved predictions")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--predictions", type=Path, required=True)
    e.add_argument("--judge", choices=judges, default=None)
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("compare", help="run several configurations on the same questions, side by side")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument(
        "--config",
        action="append",
        required=True,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="settings for one configuration, e.g. retrieval_mode=dense (repeat for each)",
    )
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int)
    e.add_argument("--judge", choices=judges, default=None)
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("judge", help="measure the entailment judges on labelled claim/passage pairs")
    e.add_argument("--pairs", type=Path, default=Path("eval/data/judge_pairs.jsonl"))
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("followups", help="retrieval for follow-up questions: alone, with the previous turn, fused")
    e.add_argument("--dataset", type=Path, action="append", required=True)
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("verifier", help="precision of Supported on labelled claim/source pairs")
    e.add_argument("--pairs", type=Path, default=Path("eval/data/verify_pairs.jsonl"))
    e = esub.add_parser("calibrate", help="fit the abstention model on runs made with abstention off")
    e.add_argument("--run", nargs=2, action="append", required=True, type=Path, metavar=("DATASET", "PREDICTIONS"))
    e.add_argument("--out", type=Path, default=Path("rag/abstain.json"))
    e.add_argument("--max-wrong", type=float, default=0.05, help="wrong answers allowed among those shown")
    e = esub.add_parser("retrieval", help="recall@k and MRR of each retrieval mode on question sets")
    e.add_argument("--dataset", type=Path, action="append", required=True)
    e.add_argument("--modes", default="dense,bm25,hybrid")
    e.add_argument("--index-dir", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _dispatch(args)
    except UsageError as err:
        print(f"rag: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # an expected failure gets one line; details go to the log
        from embeddings.encoder import ModelLoadError
        from rag.store import IndexCorrupt

        if isinstance(err, ModelLoadError | IndexCorrupt | ValueError | OSError):
            print(f"rag: error: {err}", file=sys.stderr)
            return EXIT_FAIL
        raise


def _settings(args: argparse.Namespace, **overrides):
    from rag.settings import Settings

    values = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "index_dir", None):
        values["index_dir"] = args.index_dir
    return Settings(**values)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "index":
        return _cmd_index(args)
    if args.command == "search":
        return _cmd_search(args)
    if args.command == "ask":
        return _cmd_ask(args)
    if args.command == "serve":
        return _cmd_serve(args)
    if args.command == "eval":
        return _cmd_eval(args)
    raise UsageError(f"unknown command {args.command!r}")


def _cmd_index(args: argparse.Namespace) -> int:
    from rag import factory

    for path in args.paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist; give files or folders of .txt .md .html .pdf reports")
    settings = _settings(args)
    embedder = factory.make_embedder(settings)
    report = factory.index_documents(
        settings, embedder, args.paths, replace=args.replace, reembed=args.rebuild, say=_say
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
    from rag import factory
    from rag.answer import QuestionError, check_question

    query = _valid_text(args.query, "the query")
    if args.k is not None and not 1 <= args.k <= 100:
        raise UsageError("--k must be between 1 and 100")
    filters = _parse_filters(args.filter)
    settings = _settings(args, retrieval_mode=args.mode)
    try:
        query = check_question(query, settings.max_question_chars)  # the same cleaning and limit as questions
    except QuestionError as err:
        hint = " (RAG_MAX_QUESTION_CHARS)" if "limit" in str(err) else ""
        raise UsageError(str(err).replace("question", "query") + hint) from err
    retriever = factory.make_retriever(settings, say=_say)
    hits = retriever.search(query, args.k or settings.top_k, filters or None)
    if args.json:
        print(json.dumps({"query": query, "hits": [hit_json(h) for h in hits]}, ensure_ascii=False))
    else:
        for h in hits:
            print(f"[{h.rank}] {h.chunk.title} — paragraph {h.chunk.paragraph} (score {h.score:.3f})")
            print(f"    {h.chunk.text}\n")
        if not hits:
            print("no passages matched")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    settings = _settings(args, host=args.host, port=args.port)
    serve(settings)
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


def _read_history(path: Path | None, max_chars: int) -> list[dict[str, str]]:
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
    ok = isinstance(history, list) and all(
        isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
        for t in history
    )
    if not ok:
        raise UsageError('--history must be a JSON list of {"role": "user"|"assistant", "content": "..."}')
    for number, turn in enumerate(history, start=1):
        # JSON escapes such as "\udcff" decode to text that cannot be encoded again for the model.
        _valid_text(turn["content"], f"--history turn {number}")
        limit = max_chars if turn["role"] == "user" else 10 * max_chars
        if len(turn["content"]) > limit:
            raise UsageError(
                f"--history turn {number} ({turn['role']}) has {len(turn['content'])} characters; "
                f"the limit is {limit} (RAG_MAX_QUESTION_CHARS)"
            )
    return history


def _cmd_ask(args: argparse.Namespace) -> int:
    from rag import factory
    from rag.answer import QuestionError, check_question
    from rag.serialize import answer_json
    from rag.types import Answer

    settings = _settings(args)
    try:
        question = check_question(_valid_text(args.question, "the question"), settings.max_question_chars)
    except QuestionError as err:
        raise UsageError(f"{err} (RAG_MAX_QUESTION_CHARS)" if "limit" in str(err) else str(err)) from err
    history = _read_history(args.history, settings.max_question_chars)
    filters = _parse_filters(args.filter)
    pipeline = factory.make_pipeline(settings, say=_say)
    answer = None
    streamed = ""
    live = sys.stdout.isatty() and not args.json
    for event in pipeline.stream(question, history, filters or None):
        if isinstance(event, Answer):
            answer = event
        elif live:
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
            print(f'[{c.n}] {c.chunk.title}, paragraph {c.chunk.paragraph}{flag}:\n    "{c.quote}"')
    elif answer.abstained and answer.hits:
        print("\nRelated passages:")
        for h in answer.hits[:3]:
            text = " ".join(h.chunk.text.split())
            print(f"- {h.chunk.title}, paragraph {h.chunk.paragraph}: {text[:160]}…")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    from eval import commands
    from eval.report import metrics_table

    settings = _settings(args)
    judge = getattr(args, "judge", None) or commands.DEFAULT_JUDGE
    dataset = getattr(args, "dataset", None)
    for path in dataset if isinstance(dataset, list) else [dataset] if dataset else []:
        if not path.is_file():
            raise UsageError(f"{path} is not a file; give a question set in JSONL")
    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.eval_command == "run":
        metrics = commands.run(settings, args.dataset, args.out, args.limit, judge, _say)
        print(metrics_table(metrics["overall"]))
        print(f"\nwrote {args.out}/predictions.jsonl, metrics.json and report.md")
    elif args.eval_command == "score":
        if not args.predictions.is_file():
            raise UsageError(f"{args.predictions} is not a file")
        metrics = commands.score(settings, args.dataset, args.predictions, judge, _say)
        print(metrics_table(metrics["overall"]))
    elif args.eval_command == "compare":
        try:
            for text in args.config:
                commands.parse_config(text)
        except ValueError as err:
            raise UsageError(str(err)) from err
        print(commands.compare(settings, args.dataset, args.config, args.out, args.limit, judge, _say))
    elif args.eval_command == "judge":
        if not args.pairs.is_file():
            raise UsageError(f"{args.pairs} is not a file")
        print(commands.judge_quality(settings, args.pairs, _say))
    elif args.eval_command == "followups":
        from eval.retrieval import followup_table

        print(followup_table(settings, args.dataset, say=_say))
    elif args.eval_command == "verifier":
        from eval.calibrate import verifier_table

        print(verifier_table(args.pairs))
    elif args.eval_command == "calibrate":
        from eval.calibrate import fit

        print(fit([(d, p) for d, p in args.run], args.out, args.max_wrong))
    elif args.eval_command == "retrieval":
        from eval.retrieval import run_retrieval_eval

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        for m in modes:
            if m not in ("dense", "bm25", "hybrid"):
                raise UsageError(f"unknown mode {m!r}; choose from dense, bm25, hybrid")
        print(run_retrieval_eval(settings, args.dataset, modes, say=_say))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
