"""The API's `?search=` is held to the rule of the web list's `?q=` (tasks_app/search.py, issue 29)."""

from urllib.parse import quote

import pytest

from tasks_app.search import SEARCH_MAX_LENGTH, SEARCH_MAX_WORDS
from tests.factories import make_task

pytestmark = pytest.mark.django_db

MANY_WORDS = " ".join(f"w{number}" for number in range(1_500))


def _titles(response) -> list[str]:
    return [task["title"] for task in response.json()["results"]]


def test_a_search_of_1500_words_is_a_400_with_the_reason_not_a_500(api, alice):
    """It was one condition per word: SQLite refused the query ("Expression tree is too large")."""
    make_task(alice, title="w1")
    response = api.get(f"/api/tasks/?search={quote(MANY_WORDS)}")
    assert response.status_code == 400
    assert response.json() == {
        "search": [
            "A search takes at most 200 characters; this one has 7,889.",
            "A search takes at most 20 words; this one has 1,500.",
        ]
    }


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ("x" * (SEARCH_MAX_LENGTH + 1), "A search takes at most 200 characters; this one has 201."),
        (",".join(["a"] * (SEARCH_MAX_WORDS + 1)), "A search takes at most 20 words; this one has 21."),  # as it splits
    ],
)
def test_a_search_past_the_characters_or_words_it_takes_is_a_400(api, search, message):
    response = api.get(f"/api/tasks/?search={quote(search)}")
    assert (response.status_code, response.json()) == (400, {"search": [message]})


def test_a_search_within_the_rule_still_finds_its_tasks(api, alice):
    make_task(alice, title="Buy milk today")
    make_task(alice, title="Buy bread")
    words = " ".join(["buy"] * (SEARCH_MAX_WORDS - 2) + ["milk", "TODAY"])
    assert _titles(api.get(f"/api/tasks/?search={quote(words)}")) == ["Buy milk today"]
    assert sorted(_titles(api.get("/api/tasks/?search=buy"))) == ["Buy bread", "Buy milk today"]


def test_the_web_list_drops_a_search_past_the_same_rule(client, alice):
    make_task(alice, title="Anything")
    make_task(alice, title="Other")
    client.force_login(alice)
    for query in ["Anything", " ".join(["Anything"] * SEARCH_MAX_WORDS)]:
        assert [task.title for task in client.get("/", {"q": query}).context["page"]] == ["Anything"]
    dropped = client.get("/", {"q": " ".join(["Anything"] * (SEARCH_MAX_WORDS + 1))})
    assert sorted(task.title for task in dropped.context["page"]) == ["Anything", "Other"]


def test_the_schema_gives_the_search_its_length(api):
    schema = api.get("/api/schema/?format=json").json()
    parameters = {parameter["name"]: parameter for parameter in schema["paths"]["/api/tasks/"]["get"]["parameters"]}
    assert parameters["search"]["schema"] == {"type": "string", "maxLength": SEARCH_MAX_LENGTH}
