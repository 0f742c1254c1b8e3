"""Check how the user says their files are laid out, before any data is read.

Pure functions: a preset name, ``COLUMN=FIELD`` pairs and a delimiter in; a :class:`Preset`
out, or one :class:`DataValidationError` naming the option and what it expects. Commands call
:func:`resolve_layout` first, so a typo costs nothing and leaves the workspace untouched.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from segmint.errors import DataValidationError
from segmint.io.sniff import normalize_delimiter
from segmint.schema import CUSTOMER_FIELDS, TRANSACTION_FIELDS, Preset, get_preset


def parse_map(pairs: Sequence[str], *, option: str, fields: Collection[str]) -> dict[str, str]:
    """``field -> column`` from ``COLUMN=FIELD`` pairs.

    ``FIELD=COLUMN`` is accepted too when only its left side is a field. Each field may be
    given once.

    Raises
    ------
    DataValidationError
        A pair without ``=`` or with an empty side, neither side a field, or a field given twice.
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        left, sep, right = (part.strip() for part in pair.partition("="))
        if not sep or not left or not right:
            raise DataValidationError(
                f"{option} {pair!r}: expected COLUMN=FIELD, e.g. {option} Client=customer_id"
            )
        if right in fields:
            column, target = left, right
        elif left in fields:
            column, target = right, left
        else:
            raise DataValidationError(
                f"{option} {pair!r}: {right!r} is not a field; expected COLUMN=FIELD with FIELD "
                f"one of {', '.join(fields)}"
            )
        if target in mapping:
            raise DataValidationError(
                f"{option}: field {target!r} is given twice (columns {mapping[target]!r} and "
                f"{column!r}); map one column onto it"
            )
        mapping[target] = column
    return mapping


def resolve_layout(
    preset: str | Preset = "generic",
    *,
    mapping: Sequence[str] | dict[str, str] | None = (),
    customers_mapping: Sequence[str] | dict[str, str] | None = (),
    delimiter: str | None = None,
) -> tuple[Preset, str | None]:
    """The preset with the user's column mappings applied, and the delimiter to split text by.

    Parameters
    ----------
    preset : str or Preset, default="generic"
        A preset name (see :data:`segmint.schema.PRESETS`) or a preset.
    mapping, customers_mapping : sequence of str or dict
        ``COLUMN=FIELD`` pairs (or ``field -> column`` dicts) for the transactions file and the
        customers file.
    delimiter : str, optional
        ``,`` ``;`` ``\\t`` ``|`` or ``whitespace``; None to sniff it from the file.
    """
    layout = get_preset(preset) if isinstance(preset, str) else preset
    tx = _as_mapping(mapping, "--map", TRANSACTION_FIELDS)
    cu = _as_mapping(customers_mapping, "--customers-map", CUSTOMER_FIELDS)
    if tx or cu:
        layout = layout.with_overrides(tx, cu)
    return layout, normalize_delimiter(delimiter)


def _as_mapping(
    given: Sequence[str] | dict[str, str] | None, option: str, fields: Collection[str]
) -> dict[str, str]:
    if not given:
        return {}
    if isinstance(given, dict):
        return dict(given)
    return parse_map(given, option=option, fields=fields)
