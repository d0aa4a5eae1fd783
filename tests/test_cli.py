"""The command line's handling of bad input: exit 2, one line, no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app import cli
from rag.index.retrieve import Retriever
from rag.index.store import ChunkingConfig, build_index
from tests.fakes import REPORT_PATH

RAG = str(Path(sys.executable).parent / "rag")


def run(*args, env_dir):
    env = {"RAG_INDEX_DIR": str(env_dir), "PATH": "/usr/bin:/bin", "HOME": str(env_dir)}
    # The command runs the code under test: the checkout on PYTHONPATH, if any, over the installed one.
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([RAG, *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", ""], "query is empty"),
        (["search", "   "], "query is empty"),
        (["search", "\x01\x02\x1b"], "the query is empty; type a query about the report"),
        (["search", "x", "--k", "0"], "--k must be between 1 and 100"),
        (["search", "x", "--bogus"], "unrecognized arguments: --bogus"),
        (["search", "x", "--filter", "novalue"], "KEY=VALUE"),
        (["frobnicate"], "invalid choice"),
        (["index", "/no/such/folder"], "does not exist"),
        (["search", "x" * 5000], "limit is 2000"),
        ([], "required"),
        (["ask", ""], "question is empty"),
        (["ask", "y" * 2500], "the limit is 2000"),
        (["ask", "why?", "--history", "/no/such.json"], "cannot read it as JSON"),
        (["ask", "   \t  "], "question is empty"),
        (["ask", "\x01\x02\x7f\x1b\u200b"], "question is empty"),
        (["ask", "x" * 100_000], "the question has 100000 characters; the limit is 2000 (RAG_MAX_QUESTION_CHARS)"),
        (["ask", os.fsdecode(b"caf\xff?")], "the question is not valid UTF-8 text (byte 0xff at character 3)"),
        (["search", os.fsdecode(b"camps \xc3\x28")], "the query is not valid UTF-8 text (byte 0xc3 at character 6)"),
        (["eval", "run", "--dataset", "/no/such.jsonl", "--out", "x"], "is not a file"),
        (
            ["eval", "compare", "--dataset", "eval/data/dev.jsonl", "--out", "x", "--config", "nope=1"],
            "unknown setting",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = run(*args, env_dir=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_history_must_be_a_list_of_turns(tmp_path):
    bad = tmp_path / "h.json"
    bad.write_text('[{"role": "robot", "content": "hi"}]')
    result = run("ask", "why?", "--history", str(bad), env_dir=tmp_path)
    assert result.returncode == 2 and "--history must be a JSON list" in result.stderr


def test_help_is_instant_and_lists_commands(tmp_path):
    result = run("--help", env_dir=tmp_path)
    assert result.returncode == 0
    for command in ("index", "search", "serve", "eval"):
        assert command in result.stdout


def test_search_json_has_the_contract_fields(tmp_path, embedder, monkeypatch, capsys):
    index = build_index(tmp_path / "idx", [REPORT_PATH], embedder, ChunkingConfig(600, 1)).index
    monkeypatch.setattr("app.indexing.make_retriever", lambda settings, say: Retriever(index, embedder))
    assert cli.main(["search", "Article 50 Penal Code children", "--k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "Article 50 Penal Code children"
    assert [h["rank"] for h in out["hits"]] == [1, 2, 3]
    first = out["hits"][0]
    assert {"rank", "chunk_id", "doc_id", "title", "text", "start", "end", "score"} <= set(first)
    assert "Article 50 of the Penal Code" in first["text"]
    assert REPORT_PATH.read_text()[first["start"] : first["end"]] == first["text"]


def test_corrupt_index_is_one_line_exit_1(tmp_path, embedder, monkeypatch):
    build_index(tmp_path / "idx", [REPORT_PATH], embedder, ChunkingConfig(600, 1))
    current = (tmp_path / "idx" / "current").resolve()
    (current / "chunks.jsonl").write_text("garbage")
    result = run("search", "camps", env_dir=tmp_path / "idx")
    assert result.returncode == 1
    assert "does not match its checksum" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot read it as JSON (Expecting value"),
        (b"{role: user}", "cannot read it as JSON"),
        (b'[{"role": "user", "content": "caf\xff"}]', "not UTF-8 text (byte 0xff at offset 33)"),
        (b'{"role": "user", "content": "hi"}', "--history must be a JSON list"),
        (b'["hi", "there"]', "--history must be a JSON list"),
        (b'[{"role": "user", "content": 5}]', "--history must be a JSON list"),
        (b'[{"content": "hi"}]', "--history must be a JSON list"),
        (b"null", "--history must be a JSON list"),
        (json.dumps([{"role": "user", "content": "q"}] * 51).encode(), "--history has 51 turns; the limit is 50"),
        (b'[{"role": "user", "content": "caf\\udcff"}]', "--history turn 1 is not valid UTF-8 text (byte 0xff"),
        (
            json.dumps([{"role": "user", "content": "q" * 5000}]).encode(),
            "--history turn 1 (user) has 5000 characters; the limit is 2000 (RAG_MAX_QUESTION_CHARS)",
        ),
        (b"[" + b'{"role": "assistant", "content": "ok"},' * 40_000 + b"]", "bytes; the limit is 1000000"),
    ],
)
def test_bad_history_files_exit_2_before_any_model_loads(tmp_path, monkeypatch, capsys, content, message):
    def no_models(*_args, **_kwargs):
        raise AssertionError("bad input must be refused before models load")

    monkeypatch.setattr("app.build.build", no_models)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    history = tmp_path / "turns.json"
    history.write_bytes(content)
    assert cli.main(["ask", "why?", "--history", str(history)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_valid_history_reaches_the_pipeline(tmp_path, monkeypatch, capsys):
    from rag.types import Answer

    seen = {}

    class Recorder:
        def stream(self, question, history, filters):
            seen.update(question=question, history=history)
            yield Answer(question, "The report does not answer this question.", True, (), (), {})

    monkeypatch.setattr("app.build.build", lambda settings, say: SimpleNamespace(pipeline=Recorder()))
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "idx"))
    turns = [{"role": "user", "content": "Who is trafficked?"}, {"role": "assistant", "content": "Workers [1]."}]
    history = tmp_path / "turns.json"
    history.write_text(json.dumps(turns), encoding="utf-8")
    assert cli.main(["ask", "  What about \x1b[31mchildren?\x07 ", "--history", str(history)]) == 0
    assert seen["question"] == "What about [31mchildren?"
    assert [t.model_dump() for t in seen["history"]] == turns


def test_a_bad_setting_is_named_by_its_variable(monkeypatch, capsys):
    monkeypatch.setenv("RAG_TOP_K", "0")
    assert cli.main(["search", "forced labor"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rag: error: RAG_TOP_K (settings.answer.top_k): Input should be greater than or equal to 1")
    assert err.count("\n") == 1


def test_a_bad_nested_setting_is_named_by_the_nested_variable(monkeypatch, capsys):
    monkeypatch.setenv("RAG_TOP_K", "3")
    monkeypatch.setenv("RAG_ANSWER__TOP_K", "0")
    assert cli.main(["search", "forced labor"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rag: error: RAG_ANSWER__TOP_K (settings.answer.top_k): Input should be greater than")


def test_nested_setting_variables_win_over_flat_ones(monkeypatch):
    from rag.settings import Settings

    monkeypatch.setenv("RAG_TOP_K", "4")
    monkeypatch.setenv("RAG_ANSWER__TOP_K", "7")
    monkeypatch.setenv("RAG_OPENAI_TIMEOUT", "5")
    settings = Settings(context_passages=2)
    assert (settings.answer.top_k, settings.answer.context_passages, settings.openai.timeout) == (7, 2, 5.0)
    assert settings.replaced(top_k=3).answer.top_k == 3 and settings.replaced(top_k=3).openai.timeout == 5.0
