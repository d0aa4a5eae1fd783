"""`rag eval …`: the evaluation harness's subcommands, added to the `rag` command by entry point."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import EXIT_OK, UsageError, say, settings_from
from rag.settings import RetrievalMode

JUDGES = ["lexical", "model", "combined"]
# Every mode, the table's rows running from the single methods to their fusion.
MODES = (RetrievalMode.DENSE, RetrievalMode.BM25, RetrievalMode.HYBRID)


def register(sub) -> None:
    """Add `eval` and its subcommands to the `rag` command's subparsers."""
    p = sub.add_parser("eval", help="evaluation on question sets")
    p.set_defaults(run=run)
    esub = p.add_subparsers(dest="eval_command", required=True, parser_class=type(p))
    e = esub.add_parser("run", help="answer a question set and write predictions, metrics and a report")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--limit", type=int)
    e.add_argument("--judge", choices=JUDGES, default=None, help="entailment judge for citation metrics")
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("score", help="recompute metrics from saved predictions")
    e.add_argument("--dataset", type=Path, required=True)
    e.add_argument("--predictions", type=Path, required=True)
    e.add_argument("--judge", choices=JUDGES, default=None)
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
    e.add_argument("--judge", choices=JUDGES, default=None)
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("judge", help="measure the entailment judges on labelled claim/passage pairs")
    e.add_argument("--pairs", type=Path, default=Path("eval/data/judge_pairs.jsonl"))
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("followups", help="retrieval for follow-up questions: alone, with the previous turn, fused")
    e.add_argument("--dataset", type=Path, action="append", required=True)
    e.add_argument("--index-dir", type=Path)
    e = esub.add_parser("calibrate", help="fit the abstention model on runs made with abstention off")
    # dest "runs": `run` is the attribute the `rag` command dispatches on.
    e.add_argument(
        "--run", dest="runs", nargs=2, action="append", required=True, type=Path, metavar=("DATASET", "PREDICTIONS")
    )
    e.add_argument("--out", type=Path, default=Path("rag/answer/abstain.json"))
    e.add_argument(
        "--max-supported-wrong", type=float, default=0.02, help="wrong answers allowed among those labelled Supported"
    )
    e.add_argument(
        "--export-rows",
        type=Path,
        metavar="JSONL",
        help="write the labelled rows (id, set, split, signals, wrong) to this file instead of fitting",
    )
    e = esub.add_parser("curves", help="the risk–coverage curves of several saved runs in one plot and table")
    e.add_argument(
        "--run", dest="runs", nargs=3, action="append", required=True, metavar=("NAME", "DATASET", "PREDICTIONS")
    )
    e.add_argument("--split", choices=("all", "dev", "held"), default="all")
    e.add_argument("--out", type=Path, required=True, help="the PNG to write")
    e = esub.add_parser("retrieval", help="recall@k and MRR of each retrieval mode on question sets")
    e.add_argument("--dataset", type=Path, action="append", required=True)
    e.add_argument("--modes", default=",".join(MODES))
    e.add_argument("--index-dir", type=Path)


def run(args: argparse.Namespace) -> int:
    from eval import commands
    from eval.dataset import DatasetError, load_dataset
    from eval.report import metrics_table

    settings = settings_from(args)
    judge = getattr(args, "judge", None) or commands.DEFAULT_JUDGE
    dataset = getattr(args, "dataset", None)
    for path in dataset if isinstance(dataset, list) else [dataset] if dataset else []:
        if not path.is_file():
            raise UsageError(f"{path} is not a file; give a question set in JSONL")
        try:
            load_dataset(path)  # a bad row is reported now, before any model loads
        except DatasetError as err:
            raise UsageError(str(err)) from err
    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.eval_command == "run":
        metrics = commands.run(settings, args.dataset, args.out, args.limit, judge, say)
        print(metrics_table(metrics["overall"]))
        print(f"\nwrote {args.out}/predictions.jsonl, metrics.json and report.md")
    elif args.eval_command == "score":
        if not args.predictions.is_file():
            raise UsageError(f"{args.predictions} is not a file")
        metrics = commands.score(settings, args.dataset, args.predictions, judge, say)
        print(metrics_table(metrics["overall"]))
    elif args.eval_command == "compare":
        try:
            for text in args.config:
                commands.parse_config(text)
        except ValueError as err:
            raise UsageError(str(err)) from err
        print(commands.compare(settings, args.dataset, args.config, args.out, args.limit, judge, say))
    elif args.eval_command == "judge":
        if not args.pairs.is_file():
            raise UsageError(f"{args.pairs} is not a file")
        print(commands.judge_quality(settings, args.pairs, say))
    elif args.eval_command == "followups":
        from eval.retrieval import followup_table

        print(followup_table(settings, args.dataset, say=say))
    elif args.eval_command == "calibrate":
        from eval.calibrate import export_rows, fit

        saved = [(d, p) for d, p in args.runs]
        if args.export_rows:
            print(export_rows(saved, args.export_rows))
        else:
            print(fit(saved, args.out, args.max_supported_wrong))
    elif args.eval_command == "curves":
        from eval.selective import curves

        runs = [(name, Path(d), Path(p)) for name, d, p in args.runs]
        for _name, dataset, predictions in runs:
            for path in (dataset, predictions):
                if not path.is_file():
                    raise UsageError(f"{path} is not a file; give a question set and the predictions.jsonl of its run")
        print(curves(runs, args.out, args.split))
    elif args.eval_command == "retrieval":
        from eval.retrieval import run_retrieval_eval

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        for m in modes:
            if m not in {mode.value for mode in RetrievalMode}:
                raise UsageError(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
        print(run_retrieval_eval(settings, args.dataset, modes, say=say))
    return EXIT_OK
