"""`shared.openapi`: what every service's OpenAPI document says beyond what FastAPI writes.

A small app built with `create_app` shows the completed document: problems as problem+json,
401/403 from the route's dependencies, 400 where there is a body, exact integer bounds. The
text patterns are checked against pydantic itself: a string matches the documented pattern
exactly when the model accepts it.
"""

import re
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Path
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, StringConstraints, ValidationError, model_validator

from shared.app import create_app
from shared.errors import PROBLEM_JSON
from shared.openapi import (
    INT64_MAX,
    PROBLEM_REF,
    TEXT_PATTERN,
    complete_document,
    exact_integer_bounds,
    problems,
    text_pattern,
)
from shared.schemas import MultilineText, RequestModel
from shared.security import AdminUser, CurrentUser
from shared.settings import BaseServiceSettings

PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


class Order(RequestModel):
    order_id: Annotated[int, Field(ge=1, le=INT64_MAX)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    note: Annotated[MultilineText, StringConstraints(strip_whitespace=True, max_length=50)] = "-"
    tags: list[str] = []
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


def app_document() -> dict[str, Any]:
    router = APIRouter()

    @router.get("/api/things/{thing_id:id}", responses=problems((404, "No such thing")))
    async def read(
        thing_id: Annotated[int, Path(ge=1, le=INT64_MAX)], user: CurrentUser, q: str = ""
    ) -> dict[str, int]:
        return {"id": thing_id}

    @router.post("/api/things", status_code=201, responses=problems(409))
    async def create(body: Order, admin: AdminUser) -> dict[str, int]:
        return {"id": 1}

    @router.get("/api/open")
    async def open_() -> dict[str, str]:
        return {}

    app = create_app(
        settings=BaseServiceSettings(service_name="things"), title="Things", routers=[router]
    )
    return app.openapi()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return app_document()


def responses(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method]["responses"]


def test_every_error_is_a_problem_with_its_schema(doc: dict[str, Any]) -> None:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["content"] == PROBLEM_CONTENT, (method, path, status)
                    assert response["description"]
    assert "HTTPValidationError" not in str(doc) and "ValidationError" not in doc["components"]
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {
        "type", "title", "status", "detail", "code", "instance", "requestId"
    }  # fmt: skip
    assert "errors" in problem["properties"]


def test_statuses_follow_from_what_the_route_is(doc: dict[str, Any]) -> None:
    read = responses(doc, "get", "/api/things/{thing_id}")
    create = responses(doc, "post", "/api/things")
    public = responses(doc, "get", "/api/open")
    defaults = {"408", "413", "422", "431", "503"}
    assert set(read) == {"200", "401", "404", *defaults}
    assert set(create) == {"201", "400", "401", "403", "409", *defaults}
    assert set(public) == {"200", *defaults}
    assert read["404"]["description"] == "No such thing"  # the route's own words
    assert create["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    operations = doc["paths"]
    assert operations["/api/things/{thing_id}"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in operations["/api/open"]["get"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_integer_bounds_are_integers_and_exact(doc: dict[str, Any]) -> None:
    (thing_id,) = [
        p for p in doc["paths"]["/api/things/{thing_id}"]["get"]["parameters"] if p["in"] == "path"
    ]
    assert thing_id["schema"]["minimum"] == 1 and thing_id["schema"]["maximum"] == 2**63 - 1
    order_id = doc["components"]["schemas"]["Order"]["properties"]["orderId"]
    assert order_id["maximum"] == 2**63 - 1 and type(order_id["maximum"]) is int
    schema = {"type": "integer", "minimum": 1.0, "maximum": float(2**63 - 1)}
    exact_integer_bounds(schema)
    assert schema == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    number = {"type": "number", "maximum": 99.5}
    exact_integer_bounds(number)
    assert number == {"type": "number", "maximum": 99.5}


def test_texts_document_what_they_refuse(doc: dict[str, Any]) -> None:
    order = doc["components"]["schemas"]["Order"]["properties"]
    assert order["name"]["pattern"] == text_pattern(strip=True, min_length=1, max_length=20)
    assert "minLength" not in order["name"] and "maxLength" not in order["name"]
    assert order["note"]["pattern"] == text_pattern(free_text=True, strip=True, max_length=50)
    assert order["tags"]["items"]["pattern"] == TEXT_PATTERN
    assert order["code"]["anyOf"][0]["pattern"] == "^[A-Z]{3}$"  # its own pattern stays
    (q,) = [
        p for p in doc["paths"]["/api/things/{thing_id}"]["get"]["parameters"] if p["in"] == "query"
    ]
    assert q["schema"]["pattern"] == TEXT_PATTERN


def test_complete_document_is_idempotent(doc: dict[str, Any]) -> None:
    import copy

    again = complete_document(copy.deepcopy(doc), [])
    assert again["paths"] == doc["paths"]


# Characters around the edges of every rule: controls, line breaks, what strip removes (and
# what it does not: U+001C-U+001F), spaces, letters, and a few beyond the BMP.
ALPHABET = st.sampled_from(
    [*"\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1c\x1f \x7f\x85\x9f\xa0\u2003\u3000\ufeffaZ9-é\U0001f600"]
)
TEXTS = st.text(ALPHABET, max_size=8)


class Texts(RequestModel):
    plain: str = "-"
    stripped: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4)
    ] = "-"
    stripped3: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3)] = "---"
    optional: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2)] = ""
    free: Annotated[MultilineText, StringConstraints(strip_whitespace=True, min_length=1)] = "-"


PATTERNS = {
    name: re.compile(prop["pattern"])
    for name, prop in Texts.model_json_schema()["properties"].items()
}


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(sorted(PATTERNS)), value=TEXTS)
def test_a_text_matches_its_pattern_exactly_when_pydantic_accepts_it(
    field: str, value: str
) -> None:
    try:
        Texts.model_validate({field: value})
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(PATTERNS[field].fullmatch(value)) == accepted, (field, value)


def test_patterns_are_valid_for_json_schema_tools() -> None:
    """ECMA 262 and Python read them alike: only classes, groups and `{m,n}` are used."""
    for pattern in (*map(lambda p: p.pattern, PATTERNS.values()), TEXT_PATTERN):
        assert "(?<" not in pattern and "(?=" not in pattern and "(?!" not in pattern
        re.compile(pattern)


def test_a_model_with_a_model_validator_documents_its_texts_too() -> None:
    """Pydantic wraps such a model's schema in a function schema; the patterns still apply."""

    class Either(RequestModel):
        one: str | None = None
        many: list[str] | None = None

        @model_validator(mode="after")
        def _one_of_them(self) -> "Either":
            return self

    properties = Either.model_json_schema()["properties"]
    assert properties["one"]["anyOf"][0]["pattern"] == TEXT_PATTERN
    assert properties["many"]["anyOf"][0]["items"]["pattern"] == TEXT_PATTERN
