"""Index build throughput, peak memory and incremental re-indexing.

    python -m bench.build --real-reports 100 --large-reports 2000 --out docs/bench/build.json

Each build runs in its own process, so that its peak memory is its own:
- the shipped report, embedded for real;
- --real-reports synthetic reports (bench/corpus.py), embedded for real: the embedding rate;
- --large-reports synthetic reports with the tests' hashed bag-of-words embedder (no model, next to
  no cost), so the figure is everything except embedding (ingest, chunking, FAISS, BM25, checksums, writes);
- for both synthetic corpora, a re-index after one report changed (vectors of unchanged chunks reused).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.indexing import chunking, make_embedder
from bench.corpus import REPORT, report_sentences, write_reports
from bench.stats import machine, peak_rss_mb
from rag.index.store import build_index, load_index
from rag.settings import Settings
from tests.fakes import HashEmbedder


def one_build(inputs: list[Path], index_dir: Path, embedder_kind: str, incremental: bool) -> dict:
    """Build (or re-build, reusing vectors) an index in this process; its figures as a dict."""
    settings = Settings()
    t = time.perf_counter()
    embedder = make_embedder(settings) if embedder_kind == "real" else HashEmbedder(dim=384, name="bench-hashing-384")
    load_s = time.perf_counter() - t
    previous = load_index(index_dir) if incremental else None
    report = build_index(
        index_dir,
        inputs,
        embedder,
        chunking(settings),
        exact_max=settings.retrieval.exact_search_max_chunks,
        previous=previous,
    )
    chunks = len(report.index.chunks)
    return {
        "documents": len(report.index.documents),
        "chunks": chunks,
        "embedded": report.embedded,
        "reused": report.reused,
        "build_s": round(report.seconds, 2),
        "chunks_per_s": round(chunks / report.seconds, 1),
        "embedded_per_s": round(report.embedded / report.seconds, 1) if report.embedded else None,
        "embedder_load_s": round(load_s, 2),
        "dense_kind": report.index.dense.kind,
        "peak_rss_mb": round(peak_rss_mb()),
        "index_mb": round(sum(p.stat().st_size for p in report.index.path.rglob("*") if p.is_file()) / 2**20, 1),
    }


def in_subprocess(inputs: list[Path], index_dir: Path, embedder_kind: str, incremental: bool = False) -> dict:
    cmd = [sys.executable, "-m", "bench.build", "--one", "--index", str(index_dir), "--embedder", embedder_kind]
    cmd += ["--incremental"] if incremental else []
    cmd += [str(p) for p in inputs]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def change_one_report(folder: Path) -> Path:
    """Append a sentence to the first report, as an edited file would."""
    path = sorted(folder.glob("report-*.txt"))[0]
    path.write_text(path.read_text(encoding="utf-8") + "\nThis paragraph was added after the first build.\n")
    return path


def synthetic_case(label: str, count: int, embedder_kind: str, pool: list[str], work: Path) -> list[dict]:
    folder = work / f"{label}-reports"
    write_reports(folder, count, pool)
    index_dir = work / f"{label}-index"
    first = in_subprocess([folder], index_dir, embedder_kind) | {"case": f"{label}: {count} reports, full build"}
    print(json.dumps(first), flush=True)
    change_one_report(folder)
    again = in_subprocess([folder], index_dir, embedder_kind, incremental=True)
    again["case"] = f"{label}: {count} reports, one report changed"
    print(json.dumps(again), flush=True)
    return [first, again]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--embedder", choices=["real", "hashing"], default="real", help=argparse.SUPPRESS)
    parser.add_argument("--incremental", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs="*", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--real-reports", type=int, default=100)
    parser.add_argument("--large-reports", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/build.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_build(args.inputs, args.index, args.embedder, args.incremental)))
        return
    pool = report_sentences()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-build-") as tmp:
        work = Path(tmp)
        shipped = in_subprocess([REPORT], work / "shipped-index", "real") | {"case": "shipped report, full build"}
        print(json.dumps(shipped), flush=True)
        rows.append(shipped)
        if args.real_reports:
            rows += synthetic_case("embedded", args.real_reports, "real", pool, work)
        if args.large_reports:
            rows += synthetic_case("hashing", args.large_reports, "hashing", pool, work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
