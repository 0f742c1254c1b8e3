"""Audiences for the tools marketers use: contact data normalised per platform, hashed where
the platform matches on hashes, laid out as each platform's upload file expects.

Everything is DuckDB SQL over a whole audience at once. Normalisation follows each platform's
published rules:

- Google Ads Customer Match (https://developers.google.com/google-ads/api/docs/conversions/
  enhance-conversions, "Normalize and hash user-provided data"): trim, lowercase; for
  gmail.com and googlemail.com addresses remove the periods before the domain; phone numbers
  in E.164 (``+`` and the country code); SHA-256, hex.
- Meta Custom Audiences (https://developers.facebook.com/docs/marketing-api/audiences/guides/
  custom-audiences, "Hashing and normalization"): email trimmed and lowercased; phone digits
  only, with the country code, without ``+`` or leading zeros; SHA-256, hex.
- Mailchimp and Klaviyo take plain addresses (email consent, not ads) with merge fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import phonenumbers

from segmint.errors import SegmintError


@dataclass(frozen=True)
class Platform:
    """An audience format: the consent purpose it is used under and what it needs."""

    name: str
    purpose: str | None  # None: the caller's --purpose
    needs: tuple[str, ...]  # contact kinds any one of which makes a customer usable
    file_format: str  # csv or parquet


PLATFORMS = {
    "google": Platform("google", "ads", ("email", "phone"), "csv"),
    "meta": Platform("meta", "ads", ("email", "phone"), "csv"),
    "mailchimp": Platform("mailchimp", "email", ("email",), "csv"),
    "klaviyo": Platform("klaviyo", "email", ("email", "phone"), "csv"),
    "csv": Platform("csv", None, (), "csv"),
    "parquet": Platform("parquet", None, (), "parquet"),
}

_EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"


def platform(name: str) -> Platform:
    found = PLATFORMS.get(name.lower())
    if found is None:
        raise SegmintError(
            f"unknown audience format {name!r}; expected one of {', '.join(PLATFORMS)}"
        )
    return found


def calling_code(region: str | None) -> int | None:
    """The international calling code of an ISO 3166 alpha-2 region (``GB`` → 44)."""
    if not region or len(region.strip()) != 2:
        return None
    code = phonenumbers.country_code_for_region(region.strip().upper())
    return code or None


def region_codes() -> list[tuple[str, int]]:
    """Every region phonenumbers knows with its calling code, for a SQL join."""
    return [
        (region, phonenumbers.country_code_for_region(region))
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


def email_sql(column: str, *, google: bool) -> str:
    """A SQL expression: the normalised email of ``column`` (NULL when it is not an address)."""
    base = f"lower(trim({column}))"
    if google:
        local, domain = f"split_part({base}, '@', 1)", f"split_part({base}, '@', 2)"
        base = (
            f"CASE WHEN {domain} IN ('gmail.com', 'googlemail.com') "
            f"THEN replace({local}, '.', '') || '@' || {domain} ELSE {base} END"
        )
    return f"CASE WHEN regexp_matches(lower(trim({column})), '{_EMAIL_SHAPE}') THEN {base} END"


def phone_digits_sql(column: str, code: str) -> str:
    """A SQL expression: the phone number of ``column`` as E.164 digits (no ``+``); NULL when
    the result cannot be a phone number (E.164: 8 to 15 digits, no letters).

    ``+`` or ``00`` start an international number. A number with a trunk ``0`` is national:
    the calling code ``code`` (an SQL expression, NULL when unknown) goes in front. Without
    either, a number that starts with the calling code and is long enough already holds it
    (``447700900123`` for GB), otherwise it is national (``6505551212`` for US); with no
    calling code known, 11 to 15 digits are taken as international, as CRMs often store
    E.164 without its ``+``.
    """
    raw = f"trim({column})"
    digits = f"regexp_replace({raw}, '[^0-9]', '', 'g')"
    cc = f"CAST({code} AS VARCHAR)"
    full = (
        f"CASE WHEN starts_with({raw}, '+') THEN {digits} "
        f"WHEN starts_with({digits}, '00') THEN substr({digits}, 3) "
        f"WHEN starts_with({digits}, '0') THEN {cc} || ltrim({digits}, '0') "
        f"WHEN {code} IS NULL THEN CASE WHEN length({digits}) >= 11 THEN {digits} END "
        f"WHEN starts_with({digits}, {cc}) AND length({digits}) >= 10 + length({cc}) - 1 "
        f"THEN {digits} "
        f"ELSE {cc} || {digits} END"
    )
    return (
        f"CASE WHEN length(ltrim({full}, '0')) BETWEEN 8 AND 15 "
        f"AND NOT regexp_matches({raw}, '[A-Za-z]') THEN ltrim({full}, '0') END"
    )


def contacts_sql(members: str, default_code: int | None) -> str:
    """A query over ``members`` (a query of ``customer_id``): per customer the first raw email
    and phone known (identities, else the ``email``/``phone`` customer attributes), and the
    calling code of their country (a two-letter code) or ``default_code``."""
    code = "NULL::INTEGER" if default_code is None else str(int(default_code))
    return f"""
        SELECT m.customer_id,
               coalesce(i.email, c.attributes->>'email') AS email,
               coalesce(i.phone, c.attributes->>'phone') AS phone,
               upper(nullif(trim(c.country), '')) AS country,
               coalesce(r.code, {code}) AS calling_code,
               coalesce(c.attributes->>'first_name', c.attributes->>'firstname') AS first_name
        FROM ({members}) m
        LEFT JOIN (
            SELECT customer_id, min(identifier) FILTER (WHERE kind = 'email') AS email,
                   min(identifier) FILTER (WHERE kind = 'phone') AS phone
            FROM identities GROUP BY customer_id
        ) i USING (customer_id)
        LEFT JOIN customers c USING (customer_id)
        LEFT JOIN _region_codes r ON r.region = upper(trim(c.country))
    """


def register_regions(con: duckdb.DuckDBPyConnection) -> None:
    """The region → calling code table :func:`contacts_sql` joins (a TEMP table)."""
    con.execute("CREATE OR REPLACE TEMP TABLE _region_codes (region VARCHAR, code INTEGER)")
    con.executemany("INSERT INTO _region_codes VALUES (?, ?)", region_codes())


def layout_sql(name: str, contacts: str, fields: str) -> str:
    """The platform's upload file over ``contacts`` (a query from :func:`contacts_sql` with the
    normalised ``email_n``/``phone_n`` columns added) and ``fields`` (merge fields by
    ``customer_id``)."""
    hashed_email = "CASE WHEN email_g IS NOT NULL THEN sha256(email_g) END"
    if name == "google":
        return f"""SELECT {hashed_email} AS "Email",
                          CASE WHEN phone_n IS NOT NULL THEN sha256('+' || phone_n) END AS "Phone",
                          CASE WHEN length(country) = 2 THEN country END AS "Country"
                   FROM ({contacts})"""
    if name == "meta":
        return f"""SELECT CASE WHEN email_n IS NOT NULL THEN sha256(email_n) END AS email,
                          CASE WHEN phone_n IS NOT NULL THEN sha256(phone_n) END AS phone,
                          CASE WHEN length(country) = 2 THEN lower(country) END AS country
                   FROM ({contacts})"""
    if name == "mailchimp":
        return f"""SELECT email_n AS "Email Address", first_name AS "First Name",
                          f.segment AS "Segment", f.clv AS "CLV",
                          f.top_category AS "Top Category", f.recommended AS "Recommended"
                   FROM ({contacts}) c LEFT JOIN ({fields}) f USING (customer_id)"""
    if name == "klaviyo":
        return f"""SELECT email_n AS "Email",
                          CASE WHEN phone_n IS NOT NULL THEN '+' || phone_n END AS "Phone Number",
                          first_name AS "First Name", f.segment AS "segment", f.clv AS "clv",
                          f.top_category AS "top_category", f.recommended AS "recommended"
                   FROM ({contacts}) c LEFT JOIN ({fields}) f USING (customer_id)"""
    raise SegmintError(f"no contact layout for {name!r}")
