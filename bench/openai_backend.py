"""The openai backend against llama-cpp-python's own server vs the in-process llama.cpp backend.

    python -m bench.openai_backend --limit 18 --repeats 1 [--index-dir DIR]

Starts `python -m llama_cpp.server` on the packaged model (same thread count as in process), runs
the questions of eval/data/dev.jsonl through the same retriever with each generator in turn
(in process, then server, question by question), and prints time to the sources and to the full
answer (medians, and the ratio server / in process), and how often the answers, the model's
judgements (P(answers)) and the abstention decisions agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from app import build, generators
from bench.processes import NotServing, free_port, stop, wait_until_serving
from rag.answer.pipeline import Pipeline
from rag.generate.openai_server import ServerConfig, connect
from rag.generate.protocol import Generator
from rag.schema import Turn
from rag.settings import Backend, Settings

DEV = Path(__file__).parents[1] / "eval" / "data" / "dev.jsonl"


def start_server(model: Path, threads: int, n_ctx: int, log: Path) -> tuple[subprocess.Popen, str]:
    """llama-cpp-python's server on a free local port, once /v1/models answers."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads)]
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(f"{url}/models", process, limit_s=120)
    except NotServing as err:
        process.kill()
        raise RuntimeError(f"{err}; see {log}") from err
    return process, url


def pipeline_with(base: Pipeline, generator: Generator) -> Pipeline:
    return dataclasses.replace(base, generator=generator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=18)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--index-dir", type=Path)
    args = parser.parse_args()

    settings = Settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    threads = settings.generator.threads or os.cpu_count() or 2
    settings = settings.replaced(generator_threads=threads, generator_backend=Backend.LLAMA_CPP)
    model = generators.generator_path(settings)
    base = build.build(settings, say=lambda _m: None).pipeline
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "report-rag-llama-server.log"
    process, url = start_server(model, threads, settings.generator.context_tokens, log)
    try:
        remote = pipeline_with(base, connect(ServerConfig(base_url=url)))
        items = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()][: args.limit]
        rows = []
        for _ in range(args.repeats):
            for item in items:
                history = [Turn.model_validate(t) for t in item.get("history", [])]
                a = base.answer(item["question"], history)
                b = remote.answer(item["question"], history)
                rows.append((item["id"], a, b))
                print(
                    f"{item['id']}: sources {a.timings.get('sources_s', 0):.2f} / "
                    f"{b.timings.get('sources_s', 0):.2f} s, total {a.timings['total_s']:.2f} / "
                    f"{b.timings['total_s']:.2f} s, same answer: {a.text == b.text}, "
                    f"P(answers) {a.signals.get('p_answers', -1):.4f} / {b.signals.get('p_answers', -1):.4f}",
                    flush=True,
                )
    finally:
        stop(process)
    report(rows)


def report(rows) -> None:
    def median(values):
        return statistics.median(values) if values else float("nan")

    print(f"\n{len(rows)} answers each")
    for key in ("sources_s", "total_s"):
        pairs = [(a, b) for _, a, b in rows if key in a.timings and key in b.timings]
        local = median([a.timings[key] for a, _ in pairs])
        server = median([b.timings[key] for _, b in pairs])
        ratio = median([b.timings[key] / a.timings[key] for a, b in pairs if a.timings[key] > 0])
        print(f"{key:10s} median in process {local:.2f} s, server {server:.2f} s, per-question ratio {ratio:.2f}")
    judged = [(a, b) for _, a, b in rows if "p_answers" in a.signals and "p_answers" in b.signals]
    gap = max((abs(a.signals["p_answers"] - b.signals["p_answers"]) for a, b in judged), default=float("nan"))
    print(f"same answer text: {sum(a.text == b.text for _, a, b in rows)}/{len(rows)}")
    print(f"same abstention: {sum(a.abstained == b.abstained for _, a, b in rows)}/{len(rows)}")
    print(f"judged by both: {len(judged)}, largest difference in P(answers) {gap:.4f}")
    for qid, a, b in rows:
        if a.text != b.text:
            print(f"  {qid} differs:\n    in process: {a.text!r}\n    server:     {b.text!r}")


if __name__ == "__main__":
    main()
