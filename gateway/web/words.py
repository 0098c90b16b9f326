"""Plain words for the states, receipt codes and message types an operator reads all day."""
from __future__ import annotations

from datetime import UTC, datetime

STATE_WORDS = {
    "pending": "waiting to be sent",
    "sent": "sent, no answer yet",
    "declared": "with the e-port",
    "accepted": "accepted by customs (120)",
    "review": "under review or inspection",
    "concluded": "concluded by customs (399)",
    "inspection": "inspection ordered",
    "released": "released",
    "rejected": "refused",
    "returned": "returned",
    "cancelled": "cancelled",
    "refunded": "refunded (return accepted)",
    "withdrawn": "withdrawn by a correction",
}

STATUS_WORDS = {
    "received": "received",
    "in_progress": "in progress",
    "released": "released",
    "rejected": "refused",
    "cancelled": "cancelled",
    "returned": "returned",
}

CODE_WORDS = {
    "1": "draft stored at the e-port", "2": "being declared", "3": "sent to customs",
    "4": "the e-port could not send it", "100": "refused by customs (退单)", "120": "entered customs' database",
    "300": "manual review", "399": "concluded (审结)", "500": "inspection ordered (查验)",
    "501": "detained", "502": "detained", "503": "detained", "505": "detained", "599": "detained",
    "600": "detained", "700": "returned (退运)", "800": "released (放行)", "899": "closed (结关)",
}

MESSAGE_WORDS = {
    "CEB311Message": "order", "CEB411Message": "payment", "CEB511Message": "waybill",
    "CEB621Message": "import inventory", "CEB623Message": "inventory cancellation",
    "CEB625Message": "return", "CEB303Message": "export order", "CEB403Message": "receipt of payment",
    "CEB505Message": "export waybill", "CEB603Message": "export inventory", "CEB605Message": "export cancellation",
    "CEB701Message": "export summary", "CEB213Message": "export return", "DecMessage": "customs declaration",
    "InspectionRecord": "inspection record", "TaxRecord": "tax record", "RebateRecord": "rebate record",
    "FxRecord": "FX record",
}


TAX_BILL_WORDS = {"1": "tax bill issued", "2": "tax bill summarised for payment", "3": "tax bill voided"}


def code_words(code: str | None, message_type: str | None = None) -> str:
    """Plain words for a receipt's status code; ``message_type`` is the receipt's (CEB622Message, …)."""
    if code is None:
        return ""
    if message_type and message_type.startswith(("CEB816", "CEB818")):
        return TAX_BILL_WORDS.get(str(code).strip(), "")
    if message_type and not message_type.startswith(("CEB", "DEC", "Dec")):
        return ""                    # agency receipts say their state in words already
    code = str(code).strip()
    if code.startswith("-"):
        return "refused by the e-port's checks"
    return CODE_WORDS.get(code, "")


def ceb_time(text: str | None) -> str:
    """A CEB time (yyyyMMddHHmmss[SSS], China time) written for reading: 2026-11-20 10:01:16."""
    text = (text or "").strip()
    if len(text) >= 14 and text[:14].isdigit():
        return f"{text[0:4]}-{text[4:6]}-{text[6:8]} {text[8:10]}:{text[10:12]}:{text[12:14]}"
    return text


def _when(d) -> str:
    """A moment as the console shows it (UTC); ISO text (the order search's summaries) is read first."""
    if isinstance(d, str):
        try:
            d = datetime.fromisoformat(d)
        except ValueError:
            return d
    if not hasattr(d, "strftime"):
        return d or ""
    if getattr(d, "tzinfo", None) is not None:
        d = d.astimezone(UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC")


def register(app) -> None:
    app.jinja_env.filters.update(
        state_words=lambda s: STATE_WORDS.get(s or "", s or ""),
        status_words=lambda s: STATUS_WORDS.get(s or "", s or ""),
        code_words=code_words,
        ceb_time=ceb_time,
        message_words=lambda t: MESSAGE_WORDS.get(t or "", t or ""),
        when=_when,
    )
