"""HTTP routes of the ticket service: thin handlers over `service` (and `pdf`, in a thread)."""

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Path, Query, Response, status

from shared.db import SessionDep
from shared.deps import from_state
from shared.events import OutboxRelay
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import CurrentUser
from ticket_service import service
from ticket_service.clients import Clients
from ticket_service.config import TicketSettings
from ticket_service.pdf import latin1, render_ticket_pdf
from ticket_service.schemas import TicketGenerate, TicketOut, TicketPage

ClientsDep = Annotated[Clients, from_state("clients")]
SettingsDep = Annotated[TicketSettings, from_state("settings")]
RelayDep = Annotated[OutboxRelay, from_state("relay")]
TicketId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The ticket's id")]
_NO_TICKET = problems((404, "No such ticket of yours (TICKET_NOT_FOUND)"))

router = APIRouter(prefix="/api/tickets", tags=["tickets"])


@router.post(
    "/generate",
    status_code=status.HTTP_201_CREATED,
    summary="Issue the e-ticket and GST invoice of a confirmed booking (idempotent)",
    responses={
        200: {"description": "Issued before: the same ticket", "model": TicketOut},
        **problems(
            (404, "No such booking of yours (BOOKING_NOT_FOUND)"),
            (409, "The booking is not confirmed (BOOKING_NOT_CONFIRMED)"),
        ),
    },
)
async def generate(
    body: TicketGenerate,
    user: CurrentUser,
    session: SessionDep,
    clients: ClientsDep,
    settings: SettingsDep,
    relay: RelayDep,
    response: Response,
) -> TicketOut:
    ticket, created = await service.generate_ticket(
        session=session,
        bookings=clients.bookings,
        settings=settings,
        user=user,
        booking_id=body.booking_id,
    )
    if created:
        relay.wake()
    else:
        response.status_code = status.HTTP_200_OK
    return TicketOut.of(ticket)


@router.get("", summary="My tickets, newest first")
async def list_tickets(
    user: CurrentUser,
    session: SessionDep,
    booking_id: Annotated[int | None, Query(alias="bookingId", ge=1, le=BIGINT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TicketPage:
    tickets = await service.list_tickets(
        session=session, user=user, booking_id=booking_id, limit=limit
    )
    return TicketPage(items=[TicketOut.of(t) for t in tickets])


@router.get("/{ticket_id:id}", summary="A ticket of mine", responses=_NO_TICKET)
async def get_ticket(ticket_id: TicketId, user: CurrentUser, session: SessionDep) -> TicketOut:
    return TicketOut.of(await service.get_ticket(session=session, ticket_id=ticket_id, user=user))


@router.get(
    "/{ticket_id:id}/pdf",
    summary="The e-ticket and its GST invoice as a PDF",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The PDF",
        },
        **_NO_TICKET,
    },
)
async def get_ticket_pdf(ticket_id: TicketId, user: CurrentUser, session: SessionDep) -> Response:
    ticket = TicketOut.of(await service.get_ticket(session=session, ticket_id=ticket_id, user=user))
    await session.close()  # hold no connection while the PDF renders
    content = await to_thread.run_sync(render_ticket_pdf, ticket)
    filename = latin1(f"ticket-{ticket.reference}.pdf").replace('"', "")
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )
