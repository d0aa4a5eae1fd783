"""Percentiles, summaries and the machine description the benchmark tables carry."""

from __future__ import annotations

import os
import platform
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eval.summary import percentile

__all__ = ["percentile"]  # the one definition, re-exported for the benchmarks


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    mean: float


def summarize(values: Sequence[float]) -> Summary:
    """Count, median, 95th percentile and mean.

    >>> summarize([3.0, 1.0, 2.0])
    Summary(n=3, p50=2.0, p95=2.9, mean=2.0)
    """
    return Summary(len(values), percentile(values, 50), round(percentile(values, 95), 12), sum(values) / len(values))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict[str, str]:
    """CPU model, usable cores and RAM of this machine, for the tables."""
    cpu = "unknown CPU"
    mem_kib = 0
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": str(cores),
        "ram_gib": f"{mem_kib / 1024**2:.1f}",
        "python": platform.python_version(),
        "load_avg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
