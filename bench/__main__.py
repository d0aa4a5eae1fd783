"""`make bench`: every benchmark part in its own process, then docs/bench.md and docs/bench.png.

    python -m bench [--sizes 1k,10k,100k,1M] [--parts retrieval,build,answer,cold_start,store_search]

A part that fails is reported and the others still run; the tables keep the last results
of a part that did not run this time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.report import write

PARTS = ("answer", "build", "retrieval", "cold_start", "store_search")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1k,10k,100k,1M", help="retrieval sizes, e.g. 1k,10k")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--store-sizes", default="10k,100k", help="sizes of the embedded and shared store's search")
    parser.add_argument("--real-reports", default="100", help="synthetic reports embedded for real")
    parser.add_argument("--large-reports", default="2000", help="synthetic reports built with a hashing embedder")
    parser.add_argument("--docs", type=Path, default=Path("docs"))
    args = parser.parse_args()
    results = args.docs / "bench"
    extra = {
        "retrieval": ["--sizes", args.sizes],
        "store_search": ["--sizes", args.store_sizes],
        "build": ["--real-reports", args.real_reports, "--large-reports", args.large_reports],
    }
    failed = []
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        if part not in PARTS:
            print(f"unknown part {part!r}; parts: {', '.join(PARTS)}", file=sys.stderr)
            return 2
        started = time.perf_counter()
        print(f"== bench {part}", flush=True)
        cmd = [sys.executable, "-m", f"bench.{part}", "--out", str(results / f"{part}.json"), *extra.get(part, [])]
        if subprocess.run(cmd).returncode != 0:
            failed.append(part)
        print(f"== bench {part}: {time.perf_counter() - started:.0f} s", flush=True)
    write(results, args.docs / "bench.md", args.docs / "bench.png")
    print(f"wrote {args.docs / 'bench.md'} and {args.docs / 'bench.png'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
