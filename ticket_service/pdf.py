"""The ticket as a PDF (fpdf2): page 1 the e-ticket, then the GST invoice.

`render_ticket_pdf` is plain, blocking Python: call it in a worker thread
(`anyio.to_thread.run_sync`). It reads only the `TicketOut` it is given.

The PDF uses the standard Helvetica font, whose character set is Latin-1: names on airline
tickets are in Latin letters anyway, and anything outside Latin-1 is transliterated or replaced.
"""

import io
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from shared.money import fmt
from ticket_service.models import VOID
from ticket_service.numbering import IST
from ticket_service.schemas import TicketOut

FONT = "Helvetica"
MARGIN = 15
QR_SIZE = 32
INK = (20, 20, 20)
MUTED = (90, 90, 90)
ALERT = (190, 20, 20)
SHADE = (230, 236, 245)


# Letters and punctuation with no Latin-1 form and no decomposition to one.
_LOOKALIKES = str.maketrans(
    {
        "\u0141": "L",
        "\u0142": "l",
        "\u0110": "D",
        "\u0111": "d",
        "\u0126": "H",
        "\u0127": "h",
        "\u0131": "i",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u20b9": "Rs.",
    }
)


def _latin1_char(ch: str) -> str:
    try:
        ch.encode("latin-1")
        return ch
    except UnicodeEncodeError:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        return base.encode("latin-1", "replace").decode("latin-1") or "?"


def latin1(value: object) -> str:
    """Text the core fonts can show: Latin-1 kept as it is, other letters without their
    accents ("Ż" -> "Z"), anything else "?"."""
    text = unicodedata.normalize("NFC", str(value))
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        return "".join(_latin1_char(ch) for ch in text.translate(_LOOKALIKES))


def when(moment: datetime) -> str:
    """ "Mon 12 Jan 2026 06:00 (UTC+05:30)", at the time's own offset."""
    offset = moment.strftime("%z") or "+0000"
    return f"{moment:%a %d %b %Y %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def money(value: Decimal, currency: str) -> str:
    return f"{currency} {fmt(value)}"


def percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def qr_png(data: str) -> io.BytesIO:
    out = io.BytesIO()
    segno.make(data, error="m", micro=False).save(out, kind="png", scale=10, border=2)
    out.seek(0)
    return out


class TicketPdf(FPDF):
    def __init__(self, ticket: TicketOut) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.ticket = ticket
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 5)
        self.set_title(f"E-ticket {ticket.reference}")
        self.set_author("FlightBook")
        self.set_subject(f"E-ticket and GST invoice {ticket.invoice.number}")
        self.set_creator("FlightBook ticket service")

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        self.cell(
            0,
            5,
            latin1(f"PNR {self.ticket.reference} - page {self.page_no()}/{{nb}}"),
            align="C",
        )

    # Building blocks ---------------------------------------------------------------------

    def heading(self, text: str, size: float = 12) -> None:
        self.set_font(FONT, "B", size)
        self.set_text_color(*INK)
        self.cell(0, size * 0.6, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def line_text(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        color: tuple[int, int, int] = INK,
        width: float = 0,
    ) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.set_text_color(*color)
        self.multi_cell(
            width, size * 0.5, latin1(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def grid(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        widths: Sequence[float],
        align: Sequence[str],
        size: float = 9,
    ) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(*INK)
        with self.table(
            col_widths=tuple(widths),
            text_align=tuple(align),
            line_height=size * 0.55,
            cell_fill_color=SHADE,
            cell_fill_mode="ROWS",
            padding=1,
            width=self.epw,
        ) as table:
            for values in (header, *rows):
                row = table.row()
                for value in values:
                    row.cell(latin1(value))
        self.ln(4)

    # Pages -------------------------------------------------------------------------------

    def eticket_page(self) -> None:
        """Page 1: what the traveller shows at the airport."""
        self.add_page()
        self.eticket_header()
        self.itinerary()
        self.coupons()
        self.line_text(
            "Times are local at each airport. Carry a government photo ID matching the "
            "passenger name. Check-in closes 45 minutes before departure on domestic flights.",
            size=8,
            color=MUTED,
        )

    def eticket_header(self) -> None:
        """The title, the PNR and the status beside the PNR's QR code."""
        t = self.ticket
        top = self.get_y()
        self.image(
            qr_png(t.reference),
            x=self.w - MARGIN - QR_SIZE,
            y=top,
            w=QR_SIZE,
            h=QR_SIZE,
            title=f"PNR {t.reference}",
            alt_text=f"QR code of the booking reference {t.reference}",
        )
        beside_qr = self.epw - QR_SIZE - 5
        self.set_font(FONT, "B", 20)
        self.set_text_color(*INK)
        self.cell(beside_qr, 10, "FlightBook E-Ticket", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.line_text("Electronic ticket itinerary and receipt", size=9, color=MUTED)
        self.ln(3)
        self.line_text(
            f"Booking reference (PNR): {t.reference}", size=14, bold=True, width=beside_qr
        )
        self.ln(1)
        self.line_text(
            f"Booking {t.booking_id} - issued {when(t.issued_at.astimezone(IST))}",
            width=beside_qr,
        )
        self.ticket_status(width=beside_qr)
        self.set_y(max(self.get_y(), top + QR_SIZE) + 5)

    def ticket_status(self, *, width: float) -> None:
        """ISSUED, or a void ticket said loudly: it must not be taken for a valid one."""
        t = self.ticket
        if t.status != VOID:
            self.line_text("Status: ISSUED", bold=True, width=width)
            return
        reason = f" ({t.void_reason})" if t.void_reason else ""
        voided = f" on {when(t.voided_at.astimezone(IST))}" if t.voided_at else ""
        self.line_text(
            f"VOID - this ticket was cancelled{voided}{reason}; it is not valid for travel.",
            size=11,
            bold=True,
            color=ALERT,
            width=width,
        )

    def itinerary(self) -> None:
        """One row per flight, at each airport's local time."""
        self.heading("Itinerary")
        self.grid(
            ("Flight", "From", "To", "Departs (local time)", "Arrives (local time)", "Cabin"),
            [
                (
                    f"{s.flight_number}\n{s.airline}",
                    s.origin,
                    s.destination,
                    when(s.departure_time),
                    when(s.arrival_time),
                    f"{s.cabin.title()}\n{s.duration_minutes} min",
                )
                for s in self.ticket.segments
            ],
            widths=(26, 14, 14, 50, 50, 26),
            align=("LEFT", "CENTER", "CENTER", "LEFT", "LEFT", "LEFT"),
        )

    def coupons(self) -> None:
        """One row per passenger and flight, with its e-ticket number."""
        self.heading("Passengers and e-ticket numbers")
        self.grid(
            ("Passenger", "Flight", "Route", "Seat", "E-ticket number"),
            [
                (
                    c.passenger,
                    c.flight_number,
                    f"{c.origin}-{c.destination}",
                    c.seat_number,
                    f"{c.ticket_number[:3]}-{c.ticket_number[3:]}",
                )
                for c in self.ticket.tickets
            ],
            widths=(62, 24, 26, 16, 52),
            align=("LEFT", "LEFT", "CENTER", "CENTER", "LEFT"),
        )

    def invoice_page(self) -> None:
        """Page 2: the GST tax invoice of the fare."""
        inv = self.ticket.invoice
        self.add_page()
        self.invoice_header()
        self.particulars()
        self.invoice_totals()
        self.ln(3)
        self.line_text(f"Amount in words: {inv.total_in_words}", bold=True)
        self.ln(3)
        self.line_text(
            "GST is charged on the base fare at 5% (economy) or 12% (business). This is a "
            "computer-generated invoice and needs no signature.",
            size=8,
            color=MUTED,
        )

    def invoice_header(self) -> None:
        """The seller (with its GSTIN), the invoice's number and date, and who is billed."""
        t, inv = self.ticket, self.ticket.invoice
        self.set_font(FONT, "B", 18)
        self.set_text_color(*INK)
        self.cell(0, 10, "TAX INVOICE", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.line_text(inv.seller.name, bold=True)
        self.line_text(inv.seller.address, size=9)
        self.line_text(f"GSTIN: {inv.seller.gstin}", size=9)
        self.ln(3)
        billed = inv.billed_to.name or f"Customer {inv.billed_to.user_id}"
        email = f" <{inv.billed_to.email}>" if inv.billed_to.email else ""
        self.grid(
            ("Invoice number", "Invoice date", "PNR", "Billed to"),
            [
                (
                    inv.number,
                    f"{inv.issued_at.astimezone(IST):%d %b %Y}",
                    t.reference,
                    f"{billed}{email}",
                )
            ],
            widths=(42, 30, 22, 86),
            align=("LEFT", "LEFT", "LEFT", "LEFT"),
        )

    def particulars(self) -> None:
        """One line per passenger and flight: taxable value, GST at its rate, fee, amount."""
        self.heading("Particulars")
        self.grid(
            ("#", "Description", "SAC", "Taxable value", "GST", "Fee", "Amount"),
            [
                (
                    str(line.line),
                    f"{line.description}\n{line.passenger}",
                    line.sac,
                    fmt(line.base),
                    f"{fmt(line.gst)}\n@ {percent(line.gst_rate)}",
                    fmt(line.fee),
                    fmt(line.total),
                )
                for line in self.ticket.invoice.lines
            ],
            widths=(7, 67, 16, 25, 22, 18, 25),
            align=("CENTER", "LEFT", "CENTER", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
            size=8,
        )

    def invoice_totals(self) -> None:
        """The totals, right-aligned, what was paid in bold."""
        t, inv = self.ticket, self.ticket.invoice
        cur = inv.currency
        discount_label = (
            f"Discount ({t.discount_code})" if t.discount_code and inv.discount else "Discount"
        )
        totals = [
            ("Base fare (taxable value)", money(inv.base, cur)),
            ("GST", money(inv.gst, cur)),
            ("Convenience fees", money(inv.fees, cur)),
            (discount_label, f"- {money(inv.discount, cur)}"),
            ("Total", money(inv.total, cur)),
            ("Amount paid", money(inv.amount_paid, cur)),
        ]
        self.set_text_color(*INK)
        for label, value in totals:
            bold = label in ("Total", "Amount paid")
            self.set_font(FONT, "B" if bold else "", 10)
            self.cell(self.epw - 45, 6, latin1(label), align="R")
            self.cell(45, 6, latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_ticket_pdf(ticket: TicketOut) -> bytes:
    """The e-ticket and its invoice as PDF bytes (blocking: run it in a thread)."""
    pdf = TicketPdf(ticket)
    pdf.alias_nb_pages()
    pdf.eticket_page()
    pdf.invoice_page()
    return bytes(pdf.output())
