"""The base of every event payload: its name (`type`) and `version` travel with it.

    class FlightCancelled(EventPayload, type="flight.cancelled"):
        flight_id: int
        ...

    await publish(session, outbox, FlightCancelled(flight_id=..., ...))   # producer
    cancelled = FlightCancelled.of(event)                                  # consumer

Every subclass that names a `type` is registered in `EVENTS`, which is how a consumer of many
types (the notification service) parses whatever arrives (`parse_event`).

Changing a contract: a field added is not a new version (readers ignore what they do not
know). A change old readers cannot read is: the model takes `version=2` and, for the rollout,
`reads=(1, 2)` with the fields that differ optional, so the consumers, deployed first, read
what the old producers still write; `reads` drops 1 once no v1 event can be left in a stream.
"""

from typing import Any, ClassVar, Self

from shared.schemas import CamelModel

EVENTS: dict[str, type["EventPayload"]] = {}


class UnknownEvent(ValueError):
    """An event this code has no contract for: an unknown type, or a version it cannot read."""


class EventPayload(CamelModel):
    type: ClassVar[str] = ""
    version: ClassVar[int] = 1  # what this code writes
    reads: ClassVar[frozenset[int]] = frozenset({1})  # what it reads

    def __init_subclass__(
        cls,
        type: str = "",
        version: int = 1,
        reads: tuple[int, ...] = (),
        register: bool = True,
        **kwargs: Any,
    ) -> None:
        """`reads`: the versions a consumer accepts (default: only `version`);
        `register=False`: a contract outside `EVENTS` (a test's own event type)."""
        super().__init_subclass__(**kwargs)
        if type:
            if register and type in EVENTS:
                raise TypeError(f"event type {type!r} has two contracts")
            cls.type, cls.version = type, version
            cls.reads = frozenset(reads or (version,)) | {version}
            if register:
                EVENTS[type] = cls

    def payload(self) -> dict[str, Any]:
        """The JSON the outbox stores and the stream carries (camelCase)."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def of(cls, event: Any) -> Self:
        """This contract's payload from an event (`shared.events.Event`) of its type."""
        version = getattr(event, "version", 1)
        if event.type != cls.type or version not in cls.reads:
            readable = ", ".join(f"v{v}" for v in sorted(cls.reads))
            raise UnknownEvent(f"{event.type} v{version} is not {cls.type} {readable}")
        return cls.model_validate(event.payload)


def parse_event(event: Any) -> EventPayload:
    """Any registered event's payload; `UnknownEvent` for a type or version without one."""
    contract = EVENTS.get(event.type)
    if contract is None:
        raise UnknownEvent(f"no contract for event type {event.type!r}")
    return contract.of(event)
