"""The canonical tables of a workspace and the column presets that map users' files onto them.

Every reader produces these columns; every later step relies on them and nothing else.
Identifiers are strings, time is UTC (naive ``TIMESTAMP``), money is one currency per workspace.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from segmint.errors import DataValidationError

#: transactions: one row per order line. ``amount`` is signed (returns are negative).
TRANSACTION_COLUMNS: dict[str, str] = {
    "customer_id": "VARCHAR",
    "order_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "product_id": "VARCHAR",
    "description": "VARCHAR",
    "category": "VARCHAR",
    "quantity": "DOUBLE",
    "unit_price": "DOUBLE",
    "amount": "DOUBLE",
    "channel": "VARCHAR",
    "is_return": "BOOLEAN",
}

#: customers: one row per customer; extra user columns live in ``attributes`` (JSON object).
CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "VARCHAR",
    "first_seen": "TIMESTAMP",
    "country": "VARCHAR",
    "attributes": "JSON",
}

#: fields a transactions file's columns can be mapped onto (``country`` goes to the customer)
TRANSACTION_FIELDS = (*TRANSACTION_COLUMNS, "country")

#: fields a customers file's columns can be mapped onto (other columns become attributes)
CUSTOMER_FIELDS = ("customer_id", "first_seen", "country")

#: fields a transactions file must provide (after mapping); ``amount`` may instead be derived
#: from ``quantity * unit_price``.
REQUIRED_TRANSACTION_FIELDS = ("customer_id", "ts")


@dataclass(frozen=True)
class Preset:
    """How one file layout maps onto the canonical schema.

    Parameters
    ----------
    name : str
        Preset name used on the command line (``--preset NAME``).
    transactions : dict
        Canonical field -> column name in the user's transactions file.
    customers : dict
        Canonical field -> column name in the user's customers file.
    return_order_prefix : str or None
        An order id starting with this prefix marks a cancellation/return (UCI: ``"C"``).
    customer_fields_in_transactions : tuple of str
        Customer fields (e.g. ``country``) that this layout carries on each transaction line.
    description : str
        One line for ``--help`` and the README.
    names : tuple of str
        Column names of a transactions text file without a header line, in order.
    date_format : str or None
        strptime format of the layout's dates when they are not ISO 8601 (e.g. ``"%Y%m%d"``).
    """

    name: str
    transactions: dict[str, str]
    customers: dict[str, str] = field(default_factory=dict)
    return_order_prefix: str | None = None
    customer_fields_in_transactions: tuple[str, ...] = ()
    description: str = ""
    names: tuple[str, ...] = ()
    date_format: str | None = None

    def with_overrides(
        self, transactions: dict[str, str] | None = None, customers: dict[str, str] | None = None
    ) -> Preset:
        """A copy whose mappings are updated by ``field -> column`` pairs, one dict per file."""
        for overrides, fields, option in (
            (transactions or {}, TRANSACTION_FIELDS, "--map"),
            (customers or {}, CUSTOMER_FIELDS, "--customers-map"),
        ):
            unknown = sorted(set(overrides) - set(fields))
            if unknown:
                raise DataValidationError(
                    f"unknown field(s) {', '.join(unknown)} in {option}; expected one of "
                    + ", ".join(fields)
                )
        return replace(
            self,
            transactions={**self.transactions, **(transactions or {})},
            customers={**self.customers, **(customers or {})},
        )


_GENERIC_TX = {name: name for name in TRANSACTION_COLUMNS}
_GENERIC_TX["country"] = "country"

PRESETS: dict[str, Preset] = {
    "generic": Preset(
        name="generic",
        transactions=_GENERIC_TX,
        customers={"customer_id": "customer_id", "first_seen": "first_seen", "country": "country"},
        customer_fields_in_transactions=("country",),
        description="columns already named as segmint's canonical fields "
        "(customer_id, order_id, ts, product_id, description, category, quantity, unit_price, "
        "amount, channel, is_return)",
    ),
    "online-retail": Preset(
        name="online-retail",
        transactions={
            "order_id": "InvoiceNo",
            "product_id": "StockCode",
            "description": "Description",
            "quantity": "Quantity",
            "ts": "InvoiceDate",
            "unit_price": "UnitPrice",
            "customer_id": "CustomerID",
            "country": "Country",
        },
        customers={"customer_id": "CustomerID", "country": "Country"},
        return_order_prefix="C",
        customer_fields_in_transactions=("country",),
        description="UCI Online Retail (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, "
        "UnitPrice, CustomerID, Country); invoices starting with 'C' are cancellations",
    ),
    "cdnow": Preset(
        name="cdnow",
        transactions={
            "customer_id": "customer_id",
            "ts": "date",
            "quantity": "number_of_cds",
            "amount": "dollar_value",
        },
        customers={"customer_id": "customer_id"},
        names=("customer_id", "date", "number_of_cds", "dollar_value"),
        date_format="%Y%m%d",
        description="CDNOW master log (whitespace-separated customer id, date YYYYMMDD, number "
        "of CDs, dollar value; with or without its header line)",
    ),
}


def get_preset(name: str) -> Preset:
    """Look up a preset by name, with a clear error listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise DataValidationError(
            f"unknown preset {name!r}; expected one of: {', '.join(sorted(PRESETS))}"
        ) from None


#: events: web and app clickstream, device telemetry, social engagement. ``customer_id`` may be
#: an anonymous id (cookie, device) that identity resolution links to a customer.
EVENT_COLUMNS: dict[str, str] = {
    "event_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "source": "VARCHAR",
    "type": "VARCHAR",
    "properties": "JSON",
}

#: messages: chatbot and support conversations, one row per message
MESSAGE_COLUMNS: dict[str, str] = {
    "message_id": "VARCHAR",
    "conversation_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "channel": "VARCHAR",
    "role": "VARCHAR",
    "text": "VARCHAR",
}

#: identities: an identifier of some kind (email, phone, cookie, device) seen for a customer
IDENTITY_COLUMNS: dict[str, str] = {
    "identifier": "VARCHAR",
    "kind": "VARCHAR",
    "customer_id": "VARCHAR",
}

#: kinds of identifier the identities table links
IDENTITY_KINDS = ("customer_id", "email", "phone", "cookie", "device")

#: consent: a customer granted or withdrew a purpose (analytics, email, sms, ...); stored in the
#: consent ledger (segmint.consent.ledger), not a table of its own
CONSENT_COLUMNS: dict[str, str] = {
    "customer_id": "VARCHAR",
    "purpose": "VARCHAR",
    "status": "VARCHAR",
    "source": "VARCHAR",
    "ts": "TIMESTAMP",
    "evidence": "VARCHAR",
}

#: a consent file's statuses, each with the other words files use for it (matched lower-case)
CONSENT_STATUSES: dict[str, tuple[str, ...]] = {
    "granted": ("opt_in", "opt-in", "yes", "true", "1"),
    "withdrawn": ("opt_out", "opt-out", "no", "false", "0"),
}

#: who wrote a message
MESSAGE_ROLES = ("customer", "agent", "bot")


@dataclass(frozen=True)
class SourceTable:
    """A canonical table fed by files of one kind beyond transactions and customers.

    Parameters
    ----------
    name : str
        The table (and the ``segmint ingest`` source name).
    columns : dict
        Canonical column -> DuckDB type.
    required : tuple of str
        Fields a file must provide (after mapping).
    key : tuple of str
        The columns that identify a row: a row whose key is stored already is not added again.
        An id column left out of the file is derived from the row's content, so re-ingesting the
        same file adds nothing.
    """

    name: str
    columns: dict[str, str]
    required: tuple[str, ...]
    key: tuple[str, ...]


SOURCE_TABLES: dict[str, SourceTable] = {
    "events": SourceTable("events", EVENT_COLUMNS, ("customer_id", "ts", "type"), ("event_id",)),
    "messages": SourceTable(
        "messages", MESSAGE_COLUMNS, ("customer_id", "ts", "text"), ("message_id",)
    ),
    "identities": SourceTable(
        "identities",
        IDENTITY_COLUMNS,
        ("identifier", "kind", "customer_id"),
        ("identifier", "kind", "customer_id"),
    ),
    # labelled example messages: conversations are then also read for these intents
    "intents": SourceTable(
        "intents", {"text": "VARCHAR", "intent": "VARCHAR"}, ("text", "intent"), ("text", "intent")
    ),
    "consent": SourceTable(
        "consent",
        CONSENT_COLUMNS,
        ("customer_id", "purpose", "status", "ts"),
        ("customer_id", "purpose", "status", "ts", "source", "evidence"),
    ),
}
