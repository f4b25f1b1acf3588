"""The base of every request, response and upstream body: camelCase in JSON, snake_case in Python.

Either spelling is accepted on input (the seed's clients send `flightId`, `booking_id` is
also read); FastAPI writes responses by alias, so the JSON is camelCase. Unknown fields are
ignored (pydantic's default), which is what reading another service's answer needs.
"""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True
    )
