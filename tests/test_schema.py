"""The edge types: one set of limits for the API, the chat, `rag ask --history` and the pipeline."""

import pytest

from rag.schema import AskRequest, QuestionError, SearchRequest, Turn, parse, parse_history


def test_a_user_turn_is_held_to_the_question_limit_and_an_assistant_turn_to_ten_times_it():
    ok = parse_history([{"role": "user", "content": "q" * 100}, {"role": "assistant", "content": "a" * 1000}], 100)
    assert ok == (Turn(role="user", content="q" * 100), Turn(role="assistant", content="a" * 1000))
    with pytest.raises(QuestionError, match="a turn by the user has 101 characters; the limit is 100"):
        parse_history([{"role": "user", "content": "q" * 101}], 100)
    with pytest.raises(QuestionError, match="a turn by the assistant has 1001 characters; the limit is 1000"):
        parse_history([{"role": "assistant", "content": "a" * 1001}], 100)


def test_an_ask_request_is_cleaned_and_checked_field_by_field():
    req = parse(AskRequest, {"question": "  Who is trafficked? ", "filters": {}}, 200)
    assert (req.question, req.history, req.filters) == ("Who is trafficked?", (), None)
    for body, message in [
        ({"question": 3}, '"question" must be a string'),
        ({"question": "x" * 201}, "the limit is 200"),
        ({"question": "ok", "history": [{"role": "system", "content": "x"}]}, '"history" turns must be'),
        ({"question": "ok", "history": [{"role": "user", "content": "x"}] * 51}, "at most 50 turns"),
        ({"question": "ok", "extra": 1}, "unknown field(s): extra"),
    ]:
        with pytest.raises(QuestionError) as err:
            parse(AskRequest, body, 200)
        assert message in str(err.value)


def test_a_search_request_names_its_query_as_such():
    assert parse(SearchRequest, {"query": "camps", "k": 3}, 200).k == 3
    with pytest.raises(QuestionError, match="the query is empty"):
        parse(SearchRequest, {"query": " "}, 200)
    with pytest.raises(QuestionError, match='"k" must be a whole number from 1 to 100'):
        parse(SearchRequest, {"query": "camps", "k": 101}, 200)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"doc_id": "a"}, {"doc_id": ("a",)}),
        ({"doc_id": ["a", "b", "a"]}, {"doc_id": ("a", "b")}),
        ({"doc_id": ["a"], "country": "Mongolia"}, {"doc_id": ("a",), "country": ("Mongolia",)}),
    ],
)
def test_filters_take_one_value_or_a_list(filters, expected):
    assert parse(SearchRequest, {"query": "tier", "filters": filters}, 200).filters == expected


@pytest.mark.parametrize(
    ("filters", "says"),
    [
        ({"doc_id": []}, "empty list"),
        ({"doc_id": [1]}, "a value or a list of values"),
        ({"doc_id": {"x": 1}}, "a value or a list of values"),
        (["doc_id"], "must be an object"),
        ({"doc_id": ["x"] * 101}, "at most 100"),
    ],
)
def test_bad_filters_say_what_to_send(filters, says):
    with pytest.raises(QuestionError, match=says):
        parse(SearchRequest, {"query": "tier", "filters": filters}, 200)
