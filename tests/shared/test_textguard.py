"""Control characters are a 422 wherever a request carries text (SPEC §2), never a 500.

Bodies: `shared.schemas.RequestModel` checks every string field (lists, dicts, nested models).
Path, query string and header values: `shared.textguard.TextGuard`, wired by `create_app`.
The app here stores what it is given in the real Postgres, which refuses NUL in text: without
the guard each of these requests is a 500.
"""

import importlib
import json
import types
import typing
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Header
from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, ValidationError
from sqlalchemy import text

from shared.app import create_app
from shared.db import SessionDep
from shared.schemas import CamelModel, MultilineText, RequestModel, SecretText
from shared.services import SERVICES
from shared.settings import BaseServiceSettings
from shared.textguard import TextGuard, control_character
from tests.helpers import assert_problem
from tests.shared.conftest import serve

# Every control character (Unicode category Cc) but the three line characters.
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in "\t\n\r"]
LINE = ["\t", "\n", "\r"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


class Passenger(RequestModel):
    name: str


class Note(RequestModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
    body: Annotated[MultilineText, StringConstraints(max_length=2000)] = "-"
    tags: list[str] = []
    labels: dict[str, str] = {}
    passengers: list[Passenger] = []
    reference: str | None = None


def refusal(**fields: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        Note(**{"title": "t", **fields})
    [error] = caught.value.errors()
    # A constrained string refuses a lone surrogate itself (pydantic's "string_unicode"); a
    # plain `str` field takes it, and the guard refuses it.
    assert error["type"] in ("control_character", "string_unicode")
    return error


# The body validator ------------------------------------------------------------------------


@pytest.mark.parametrize("char", CONTROLS + LINE)
def test_a_control_character_in_a_text_field_is_refused(char: str) -> None:
    error = refusal(title=f"Asha{char}Rao")
    assert (error["loc"], error["type"]) == (("title",), "control_character")
    assert error["msg"] == f"must not contain control characters (found U+{ord(char):04X})"


@pytest.mark.parametrize("char", SURROGATES)
def test_an_unpaired_surrogate_is_refused(char: str) -> None:
    error = refusal(reference=f"AB{char}")
    assert (error["loc"], error["type"]) == (("reference",), "control_character")
    assert error["msg"] == f"must not contain unpaired surrogates (found U+{ord(char):04X})"
    assert refusal(title=f"Asha{char}")["loc"] == ("title",)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"tags": ["ok", "b\x00d"]}, ("tags",)),
        ({"labels": {"k": "v\x00"}}, ("labels",)),
        ({"labels": {"k\x00": "v"}}, ("labels",)),
        ({"passengers": [{"name": "ok"}, {"name": "A\x00"}]}, ("passengers", 1, "name")),
        ({"reference": "AB\x1bC"}, ("reference",)),
        ({"body": "line one\n\x00"}, ("body",)),
    ],
)
def test_lists_dicts_nested_models_and_optionals_are_covered(
    fields: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    assert refusal(**fields)["loc"] == loc


@pytest.mark.parametrize("char", LINE)
def test_free_text_keeps_tabs_and_line_breaks(char: str) -> None:
    assert Note(title="t", body=f"Dear Asha,{char}see you").body == f"Dear Asha,{char}see you"


@pytest.mark.parametrize("char", CONTROLS + SURROGATES)
def test_free_text_refuses_every_other_control_character(char: str) -> None:
    assert refusal(body=f"Dear Asha,\n{char}")["loc"] == ("body",)


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs"))))
def test_any_other_text_is_accepted(value: str) -> None:
    assert control_character(value) is None
    assert Note(title="t", tags=[value], labels={value: value}).tags == [value]


def test_a_subclass_of_a_subclass_is_guarded() -> None:
    class Deeper(Note):
        extra: str = ""

    with pytest.raises(ValidationError):
        Deeper(title="t", extra="\x00")


def test_answers_are_not_checked_again() -> None:
    """A response or another service's answer is a plain CamelModel: a row stored before the
    rule (a name with an escape character) is still served, not a 500."""

    class Answer(CamelModel):
        name: str

    assert Answer(name="Bob\x1b[31m").name == "Bob\x1b[31m"


def test_a_secret_refuses_only_what_cannot_be_hashed() -> None:
    class Login(RequestModel):
        password: SecretText

    assert Login(password="tab\tand\x1bescape").password == "tab\tand\x1bescape"
    for unhashable in ("lone \ud800 surrogate", "nul\x00"):
        with pytest.raises(ValidationError):
            Login(password=unhashable)


def _models_in(annotation: Any) -> set[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found = {annotation}
        for field in annotation.model_fields.values():
            found |= _models_in(field.annotation)
        return found
    return set().union(*(_models_in(arg) for arg in typing.get_args(annotation)))


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, through included routers too."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        else:
            inner = getattr(route, "original_router", route)
            found += _api_routes(getattr(inner, "routes", []))
    return found


def test_every_request_body_of_every_service_is_a_request_model() -> None:
    """So every text a client sends in a body is checked; a plain BaseModel would not be."""
    checked = set()
    for service in SERVICES:
        app = importlib.import_module(f"{service.package}.main").app
        for route in _api_routes(app.routes):
            for param in route.dependant.body_params:
                for model in _models_in(param.field_info.annotation):
                    assert issubclass(model, RequestModel), (service, route.path, model)
                    checked.add(model.__name__)
    assert {"SignupRequest", "PayRequest", "CardIn", "BookingCreate", "PassengerIn"} <= checked
    assert {"DiscountCodeCreate", "ApplyRequest", "FlightCreate", "FareInput"} <= checked
    assert {"SendRequest", "LockRequest", "TicketGenerate"} <= checked


# Path, query string and headers: the middleware, through create_app --------------------------


def routes() -> APIRouter:
    router = APIRouter()

    async def store(session: SessionDep, value: str) -> str:
        # Postgres refuses NUL in text: without the guard, a 500.
        return (await session.execute(text("SELECT CAST(:v AS text)"), {"v": value})).scalar_one()

    @router.get("/airports")
    async def airports(session: SessionDep, q: str = "") -> dict[str, str]:
        return {"q": await store(session, q)}

    @router.get("/codes/{code}")
    async def code(session: SessionDep, code: str) -> dict[str, str]:
        return {"code": await store(session, code)}

    @router.get("/keyed")
    async def keyed(
        session: SessionDep, key: Annotated[str, Header(alias="Idempotency-Key")]
    ) -> dict[str, str]:
        return {"key": await store(session, key)}

    @router.post("/notes")
    async def notes(session: SessionDep, body: Note) -> dict[str, str]:
        return {"title": await store(session, body.title), "body": await store(session, body.body)}

    return router


@pytest.fixture(scope="module")
async def guarded() -> Any:
    app = create_app(
        settings=BaseServiceSettings(service_name="textguard-tests"),
        title="t",
        routers=[routes()],
    )
    async with serve(app) as client:
        yield client


def assert_refused(response: httpx.Response, *loc: str) -> dict[str, Any]:
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert response.headers["x-request-id"]
    assert body["errors"][0]["loc"] == list(loc), body
    assert body["errors"][0]["type"] == "control_character"
    return body


@pytest.mark.parametrize(
    "query",
    ["q=%00", "q=abc%00def", "q=%0A", "q=%09", "q=%7F", "q=%C2%85", "q=%1B%5B31m"],
)
async def test_a_control_character_in_the_query_is_422(guarded: httpx.AsyncClient, query: str):
    body = assert_refused(await guarded.get(f"/airports?{query}"), "query", "q")
    assert body["detail"].startswith("query.q: must not contain control characters")


async def test_the_query_parameters_name_is_checked_too(guarded: httpx.AsyncClient) -> None:
    assert_refused(await guarded.get("/airports?q=del&x%00y=1"), "query", "x\x00y")


async def test_a_raw_control_byte_in_the_query_is_422() -> None:
    """Not percent-encoded (httpx would not send it; a raw socket can)."""
    reached = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/airports",
        "raw_path": b"/airports",
        "query_string": b"q=a\x00b",
        "headers": [(b"host", b"test")],
        "scheme": "http",
        "server": ("test", 80),
        "root_path": "",
    }
    await TextGuard(app)(scope, None, send)  # type: ignore[arg-type]
    assert not reached
    assert sent[0]["status"] == 422
    body = json.loads(sent[1]["body"])
    assert body["code"] == "VALIDATION_FAILED"
    assert body["errors"] == [
        {
            "loc": ["query", "q"],
            "message": "must not contain control characters (found U+0000)",
            "type": "control_character",
        }
    ]


async def test_a_control_character_in_the_path_is_422(guarded: httpx.AsyncClient) -> None:
    assert_refused(await guarded.get("/codes/A%00"), "path")
    assert_refused(await guarded.get("/codes/A%0AB"), "path")


async def test_a_control_character_in_a_header_is_422(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get("/keyed", headers={"Idempotency-Key": "key\x00one"})
    assert_refused(r, "header", "idempotency-key")


async def test_a_control_character_in_a_body_is_422(guarded: httpx.AsyncClient) -> None:
    r = await guarded.post("/notes", json={"title": "A\u0000"})
    body = assert_refused(r, "body", "title")
    assert body["detail"] == "title: must not contain control characters (found U+0000)"
    r = await guarded.post("/notes", json={"title": "A", "body": "x\u0000"})
    assert_refused(r, "body", "body")
    # An unpaired surrogate is not text either (Postgres could not store it).
    r = await guarded.post(
        "/notes",
        content=b'{"title": "t", "tags": ["\\ud800"]}',
        headers={"content-type": "application/json"},
    )
    assert_refused(r, "body", "tags")


async def test_normal_text_passes(guarded: httpx.AsyncClient) -> None:
    r = await guarded.get("/airports", params={"q": "Bengalūru + तिरुवनंतपुरम"})
    assert r.status_code == 200 and r.json()["q"] == "Bengalūru + तिरुवनंतपुरम"
    r = await guarded.get("/airports?q=a+b%20c")
    assert r.json()["q"] == "a b c"
    r = await guarded.get("/airports?q=%FF")  # not UTF-8: read as U+FFFD, harmless
    assert r.status_code == 200 and r.json()["q"] == "\ufffd"
    r = await guarded.get("/codes/FLY%20100")
    assert r.status_code == 200 and r.json()["code"] == "FLY 100"
    r = await guarded.get("/keyed", headers={"Idempotency-Key": "tab\there is fine"})
    assert r.status_code == 200
    r = await guarded.post("/notes", json={"title": "Hi", "body": "Dear Asha,\n\tsee you\r\n"})
    assert r.status_code == 200 and r.json()["body"] == "Dear Asha,\n\tsee you\r\n"


def test_union_types_are_walked() -> None:
    # `_models_in` must see through `X | None` and `list[X]` (the test above relies on it).
    assert _models_in(list[Passenger] | None) == {Passenger}
    assert _models_in(types.NoneType) == set()
