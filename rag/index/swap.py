"""Atomic swaps of an index folder's `current` build, its lock, and the cleanup after killed builds.

A build is written aside, renamed into `builds/` and `current` is repointed with one rename, under
an exclusive lock; what a killed process left (temporary folders, link files) is removed by the
next build, never while its process lives.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def swap_lock(index_dir: Path) -> Iterator[None]:
    """An exclusive lock on the index folder; the system releases it if the process dies."""
    fd = os.open(index_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def point_current(index_dir: Path, target: Path) -> None:
    link = index_dir / f".current-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.relative_to(index_dir))
    os.replace(link, index_dir / "current")
    fsync_dir(index_dir)


def remove_unfinished_builds(index_dir: Path) -> list[Path]:
    """Remove what killed builds left behind: temporary build folders and link files of dead processes.

    Folders of builds still running (their process is alive) are kept. Returns what was removed.
    """
    removed = []
    candidates = [*(index_dir / "builds").glob(".tmp-*"), *index_dir.glob(".current-*")]
    for path in candidates:
        if _process_alive(_pid_in(path.name)):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _pid_in(name: str) -> int | None:
    """The process id in a leftover's name: '.tmp-4242-abc' -> 4242, '.current-7' -> 7, '.tmp-abc' -> None."""
    field = name.split("-")[1] if name.count("-") >= 1 else ""
    return int(field) if field.isdigit() else None


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_old_builds(builds: Path, keep: Path) -> None:
    """Drop superseded builds; a reader that still has one open keeps its files (POSIX)."""
    for child in builds.iterdir():
        if child != keep and not child.name.startswith(".tmp-"):
            shutil.rmtree(child, ignore_errors=True)


def fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
