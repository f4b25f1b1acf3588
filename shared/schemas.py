"""The base of every request, response and upstream body: camelCase in JSON, snake_case in Python.

Either spelling is accepted on input (the seed's clients send `flightId`, `booking_id` is
also read); FastAPI writes responses by alias, so the JSON is camelCase. Unknown fields are
ignored (pydantic's default), which is what reading another service's answer needs.

A request body is a `RequestModel`: every text in it is refused (422) if it holds a control
character (`shared.textguard`): strings, strings in lists and dicts, and nested models (each a
RequestModel itself). A field of free text that may span lines is typed `MultilineText`: it
keeps tab, LF and CR. A secret that is only hashed (a login password) is `SecretText`: any
character but NUL and unpaired surrogates, so a password chosen before the rule still logs in.
Responses and other services' answers are plain `CamelModel`s: what was checked on the way in
is not checked again on every way out.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from shared.openapi import document_text
from shared.textguard import CONTROL_CHARACTER, control_character, describe, unhashable


class _FreeText:
    """Marks a text field that may hold tab, line feed and carriage return."""

    def __repr__(self) -> str:
        return "FreeText"


class _SecretText:
    """Marks a text that is hashed, never stored or shown: only what cannot be hashed (NUL,
    unpaired surrogates) is refused."""

    def __repr__(self) -> str:
        return "SecretText"


FREE_TEXT = _FreeText()
SECRET_TEXT = _SecretText()
MultilineText = Annotated[str, FREE_TEXT]
SecretText = Annotated[str, SECRET_TEXT]


def _first_refused(value: Any, *, free_text: bool) -> str | None:
    if isinstance(value, str):
        return control_character(value, free_text=free_text)
    if isinstance(value, list | tuple | set | frozenset):
        items: Any = value
    elif isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    else:
        return None  # numbers, dates, ids, and nested models (which checked themselves)
    return next((bad for item in items if (bad := _first_refused(item, free_text=free_text))), None)


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )


def _marked(model: type[BaseModel], marker: object) -> set[str]:
    return {
        name
        for name, field in model.model_fields.items()
        if any(m is marker for m in field.metadata)
    }


class RequestModel(CamelModel):
    """A request body (or a model nested in one): its texts refuse control characters."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if bad := _first_refused(value, free_text=False):
            field = cls.model_fields.get(info.field_name or "")
            metadata = field.metadata if field is not None else ()
            if any(m is SECRET_TEXT for m in metadata):
                bad = unhashable(value) if isinstance(value, str) else None
            elif any(m is FREE_TEXT for m in metadata):
                bad = _first_refused(value, free_text=True)
            if bad:
                raise PydanticCustomError(CONTROL_CHARACTER, describe(bad))
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """As a request body, each text field documents what it refuses (a pattern)."""
        json_schema = handler(core_schema)
        if handler.mode == "validation":
            document_text(
                core_schema,
                handler.resolve_ref_schema(json_schema),
                free_text=_marked(cls, FREE_TEXT),
                unchecked=_marked(cls, SECRET_TEXT),
            )
        return json_schema
