"""HTTP routes of the payment service: thin handlers over `saga` (pay), `service` (reads) and
`refunds`."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payment_service import refunds, saga, service
from payment_service.card_gateway import CardGateway
from payment_service.clients import Clients
from payment_service.config import PaymentSettings
from payment_service.schemas import PaymentList, PaymentOut, PayRequest
from shared.contracts.payments import Payment, RefundRequest
from shared.db import SessionDep
from shared.deps import from_state
from shared.errors import PROBLEM_JSON
from shared.ids import BIGINT_MAX
from shared.openapi import problems
from shared.security import CurrentUser
from shared.service_identity import internal_caller

ClientsDep = Annotated[Clients, from_state("clients")]
GatewayDep = Annotated[CardGateway, from_state("gateway")]
SettingsDep = Annotated[PaymentSettings, from_state("settings")]
HashKeyDep = Annotated[bytes, from_state("idempotency_hash_key")]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], from_state("db", "sessionmaker")]
PaymentId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="The payment's id")]

router = APIRouter(prefix="/api/payments", tags=["payments"])
internal = APIRouter(prefix="/internal/payments", tags=["internal"])
# Refunds and payment reads are the booking service's (cancellations, expiry).
FromBooking = Annotated[str, internal_caller("booking")]


@router.post(
    "/pay",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOut,
    summary="Pay a booking (mock card gateway); optional Idempotency-Key",
    responses={
        200: {"description": "This key's earlier attempt, which failed", "model": PaymentOut},
        202: {"description": "Charged; the booking is being confirmed", "model": PaymentOut},
        **problems(
            (402, "Declined (PAYMENT_DECLINED, with declineCode); the booking is still payable"),
            (403, "userId is another user's (FORBIDDEN)"),
            (404, "No such booking of mine (BOOKING_NOT_FOUND)"),
            (
                409,
                "Amount mismatch (AMOUNT_MISMATCH, with amountDue), already paid, not payable, "
                "hold expired, a payment or this key's request in progress",
            ),
            (
                422,
                "Invalid body (VALIDATION_FAILED), card number or expiry (CARD_INVALID, "
                "CARD_EXPIRED), Idempotency-Key (IDEMPOTENCY_KEY_INVALID) or a key reused with "
                "another body (IDEMPOTENCY_KEY_REUSED)",
            ),
            (
                503,
                "Over capacity, or the attempt took too long and was given up (nothing was "
                "charged: PAYMENT_ABANDONED)",
            ),
        ),
    },
)
async def pay(
    body: PayRequest,
    user: CurrentUser,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
    clients: ClientsDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    hash_key: HashKeyDep,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", json_schema_extra={"pattern": "^[!-~]{1,255}$"}),
    ] = None,
) -> JSONResponse:
    outcome = await saga.pay_with_key(
        session=session,
        sessionmaker=sessionmaker,
        clients=clients,
        gateway=gateway,
        settings=settings,
        user=user,
        request=body,
        idempotency_key=idempotency_key,
        instance=request.url.path,
        hash_key=hash_key,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(
        outcome.body,
        status_code=outcome.status,
        headers=headers,
        media_type=PROBLEM_JSON if outcome.status >= 400 else None,
    )


@router.get("", summary="My payments, newest first")
async def list_payments(
    user: CurrentUser,
    session: SessionDep,
    booking_id: Annotated[int | None, Query(alias="bookingId", ge=1, le=BIGINT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PaymentList:
    payments = await service.list_payments(
        session=session, user=user, booking_id=booking_id, limit=limit
    )
    return PaymentList(items=[PaymentOut.of(p) for p in payments])


@router.get(
    "/{payment_id:id}",
    summary="A payment of mine",
    responses=problems((404, "No such payment of mine (PAYMENT_NOT_FOUND)")),
)
async def get_payment(payment_id: PaymentId, user: CurrentUser, session: SessionDep) -> PaymentOut:
    return PaymentOut.of(
        await service.get_payment(session=session, payment_id=payment_id, user=user)
    )


# Internal: the booking service (service token only) -------------------------------------------


@internal.post(
    "/refund",
    summary="Refund a booking's payment in full (idempotent)",
    responses=problems(
        (404, "The booking has no payment to refund (PAYMENT_NOT_FOUND)"),
        (409, "Its payment cannot be refunded (PAYMENT_NOT_REFUNDABLE)"),
    ),
)
async def refund(
    body: RefundRequest, _caller: FromBooking, session: SessionDep, gateway: GatewayDep
) -> Payment:
    payment = await refunds.refund_booking(
        session=session, gateway=gateway, booking_id=body.booking_id, reason=body.reason
    )
    return PaymentOut.of(payment)


@internal.get(
    "/{payment_id:id}",
    summary="A payment (any user's)",
    responses=problems((404, "No such payment (PAYMENT_NOT_FOUND)")),
)
async def internal_get(payment_id: PaymentId, _caller: FromBooking, session: SessionDep) -> Payment:
    return PaymentOut.of(await service.get_payment_internal(session=session, payment_id=payment_id))
