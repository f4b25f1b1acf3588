"""The base of every request, response and upstream body: camelCase in JSON, snake_case in Python.

Either spelling is accepted on input (the seed's clients send `flightId`, `booking_id` is
also read); FastAPI writes responses by alias, so the JSON is camelCase. Unknown fields are
ignored (pydantic's default), which is what reading another service's answer needs.

Every text in a body is refused (422) if it holds a control character (`shared.textguard`):
strings, strings in lists and dicts, and nested models (each a CamelModel itself). A field of
free text that may span lines is typed `MultilineText`: it keeps tab, LF and CR.
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from shared.openapi import document_text
from shared.textguard import CONTROL_CHARACTER, control_character, describe


class _FreeText:
    """Marks a text field that may hold tab, line feed and carriage return."""

    def __repr__(self) -> str:
        return "FreeText"


FREE_TEXT = _FreeText()
MultilineText = Annotated[str, FREE_TEXT]


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

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if bad := _first_refused(value, free_text=False):
            field = cls.model_fields.get(info.field_name or "")
            if field is not None and any(m is FREE_TEXT for m in field.metadata):
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
            free_text = {
                name
                for name, field in cls.model_fields.items()
                if any(m is FREE_TEXT for m in field.metadata)
            }
            document_text(core_schema, handler.resolve_ref_schema(json_schema), free_text=free_text)
        return json_schema
