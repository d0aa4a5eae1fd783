import json

import pytest

from app.cli import main
from eval.dataset import KNOWN_TYPES, DatasetError, load_dataset
from tests.fakes import write

GOOD = {"id": "q1", "question": "Is there forced labor?", "answerable": True, "type": "fact"}


def bad_set(tmp_path, row) -> object:
    """A question set whose line 2 is `row` (a dict is written as JSON, a str as it is)."""
    line = row if isinstance(row, str) else json.dumps(row)
    return write(tmp_path, "set.jsonl", json.dumps(GOOD) + "\n" + line + "\n")


def error_of(tmp_path, row) -> str:
    with pytest.raises(DatasetError) as caught:
        load_dataset(bad_set(tmp_path, row))
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"split": "test"}, 'split: "test" is not allowed (allowed: "dev", "held")'),
        ({"answerable": "maybe"}, 'answerable: "maybe" given (expected true or false'),
        (
            {"history": [{"role": "system", "content": "Hi."}]},
            'history.0.role: "system" is not allowed (allowed: "user", "assistant")',
        ),
        ({"history": [{"role": "user"}]}, "history.0.content: missing (expected a string)"),
        ({"history": "Hi."}, 'history: "Hi." given (expected a list of turns, each {"role": "user" or "assistant"'),
        ({"must_include": [["camps", 2]]}, "must_include.0.1: 2 given (expected a string)"),
        ({"evidence": "Camps exist."}, 'evidence: "Camps exist." given (expected a list of strings)'),
    ],
)
def test_a_bad_field_is_named_with_the_value_given_and_what_is_allowed(tmp_path, change, expected):
    message = error_of(tmp_path, {**GOOD, "id": "q2", **change})
    assert message.startswith(f"{tmp_path / 'set.jsonl'}:2: not a valid question row: ")
    assert expected in message


@pytest.mark.parametrize("value", ["", 3, None])
def test_an_empty_or_non_string_type_lists_the_known_types(tmp_path, value):
    message = error_of(tmp_path, {**GOOD, "id": "q2", "type": value})
    assert ":2: " in message and "type: " in message
    assert ", ".join(KNOWN_TYPES) in message


def test_a_missing_type_lists_the_known_types(tmp_path):
    row = {k: v for k, v in GOOD.items() if k != "type"} | {"id": "q2"}
    assert f"type: missing (expected a non-empty string: one of {', '.join(KNOWN_TYPES)}" in error_of(tmp_path, row)


def test_a_type_of_the_set_s_own_is_accepted(tmp_path):
    items = load_dataset(bad_set(tmp_path, {**GOOD, "id": "q2", "type": "yes-no"}))
    assert [i.type for i in items] == ["fact", "yes-no"]


def test_every_problem_of_a_row_is_listed_one_clause_each(tmp_path):
    row = {"question": 5, "type": "fact", "split": "train", "history": [{"role": "bot", "content": "x"}]}
    message = error_of(tmp_path, row)
    clauses = message.split(": not a valid question row: ", 1)[1].split("; ")
    assert clauses == [
        "id: missing (expected a string)",
        "question: 5 given (expected a string)",
        'history.0.role: "bot" is not allowed (allowed: "user", "assistant")',
        'split: "train" is not allowed (allowed: "dev", "held")',
    ]


def test_an_unknown_field_of_a_turn_says_what_a_turn_is(tmp_path):
    message = error_of(tmp_path, {**GOOD, "id": "q2", "history": [{"role": "user", "content": "Hi.", "name": "x"}]})
    assert 'history.0.name: not a field here (expected {"role": "user" or "assistant", "content": "<text>"})' in message


def test_bad_json_names_the_line_and_column(tmp_path):
    message = error_of(tmp_path, '{"id": "q2", "question": "Why?" "type": "why"}')
    assert message == f"{tmp_path / 'set.jsonl'}:2: not valid JSON at column 33: Expecting ',' delimiter"


def test_a_row_that_is_not_an_object_says_so(tmp_path):
    message = error_of(tmp_path, '["q2", "Why?"]')
    assert message.endswith(':2: the row is a list; expected a JSON object with "id", "question" and "type"')


def test_bytes_that_are_not_utf8_name_the_line(tmp_path):
    path = write(tmp_path, "set.jsonl", json.dumps(GOOD).encode() + b'\n{"id": "q\xff2"}\n')
    with pytest.raises(DatasetError, match=r"set.jsonl:2: not UTF-8 text \(byte 10 of the line\)"):
        load_dataset(path)


def test_a_duplicate_id_names_both_lines(tmp_path):
    message = error_of(tmp_path, GOOD)
    assert message.endswith(":2: duplicate id 'q1' (first on line 1)")


def test_a_long_value_is_cut_short_and_the_message_stays_one_line(tmp_path):
    message = error_of(tmp_path, {**GOOD, "id": "q2", "split": "held out\n" * 20})
    assert "\n" not in message and "…" in message and len(message) < 300


def test_the_eval_command_reports_a_bad_row_in_one_line_with_exit_2(tmp_path, capsys):
    path = bad_set(tmp_path, {**GOOD, "id": "q2", "split": "test"})
    predictions = write(tmp_path, "predictions.jsonl", "")
    assert main(["eval", "score", "--dataset", str(path), "--predictions", str(predictions)]) == 2
    err = capsys.readouterr().err
    problem = 'split: "test" is not allowed (allowed: "dev", "held")'
    assert err == f"rag: error: {path}:2: not a valid question row: {problem}\n"
