"""GET /api/tickets/{id}/pdf: a real PDF (parsed back with pypdf) with the e-ticket, a QR code
of the PNR, and the GST invoice."""

import io

from PIL import Image
from pypdf import PdfReader

from tests.ticket_service.conftest import Tickets
from ticket_service.pdf import qr_png


def pdf_text(content: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


async def test_pdf_has_the_eticket_then_the_invoice(tickets: Tickets, user) -> None:
    _, headers = user
    booking = await tickets.confirmed_booking(headers, "18A", "18B")
    t = await tickets.issued(headers, booking["id"])
    r = await tickets.client.get(t["pdfUrl"], headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert f"ticket-{t['reference']}.pdf" in r.headers["content-disposition"]
    assert r.content.startswith(b"%PDF-")
    reader, pages = pdf_text(r.content)
    assert len(pages) >= 2
    eticket, invoice = pages[0], "\n".join(pages[1:])
    assert f"Booking reference (PNR): {t['reference']}" in eticket
    segment = t["segments"][0]
    assert segment["flightNumber"] in eticket and "DEL" in eticket and "BOM" in eticket
    for c in t["tickets"]:
        assert f"{c['ticketNumber'][:3]}-{c['ticketNumber'][3:]}" in eticket
        assert c["passenger"] in eticket and c["seatNumber"] in eticket
    assert "UTC+05:30" in eticket  # local times at the airports
    assert "TAX INVOICE" in invoice and t["invoice"]["number"] in invoice
    assert f"INR {t['invoice']['total']}" in invoice and t["invoice"]["total"] == "9848.00"
    assert t["invoice"]["totalInWords"] in invoice.replace("\n", " ")
    assert reader.metadata.title == f"E-ticket {t['reference']}"


async def test_pdf_qr_code_is_the_pnr(tickets: Tickets, user) -> None:
    _, headers = user
    t = await tickets.issued(headers, (await tickets.confirmed_booking(headers, "19F"))["id"])
    r = await tickets.client.get(t["pdfUrl"], headers=headers)
    reader = PdfReader(io.BytesIO(r.content))
    [image] = reader.pages[0].images
    expected = Image.open(qr_png(t["reference"])).convert("L")
    embedded = image.image.convert("L")
    assert embedded.size == expected.size
    assert embedded.tobytes() == expected.tobytes()


async def test_pdf_of_someone_elses_ticket_is_404(tickets: Tickets, new_user) -> None:
    _, owner = new_user()
    _, other = new_user()
    t = await tickets.issued(owner, (await tickets.confirmed_booking(owner))["id"])
    r = await tickets.client.get(t["pdfUrl"], headers=other)
    assert r.status_code == 404 and r.json()["code"] == "TICKET_NOT_FOUND"
    assert (await tickets.client.get(t["pdfUrl"])).status_code == 401
    assert (
        await tickets.client.get("/api/tickets/9000000000/pdf", headers=owner)
    ).status_code == 404
