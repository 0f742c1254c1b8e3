"""Input checks shared by every text function: a sequence of strings, refused clearly otherwise."""

from __future__ import annotations

from collections.abc import Iterable

from segmint.errors import DataValidationError


def as_texts(texts: Iterable[str], *, name: str = "texts") -> list[str]:
    """Return ``texts`` as a list of ``str``, or raise naming the first value that is not one.

    A lone string is refused: iterating it would silently embed one character per "message".
    Missing values (``None``, ``NaN``) are refused too, rather than turned into "nan" or "":
    the caller knows whether an empty message means anything.
    """
    if isinstance(texts, str | bytes):
        msg = f"{name} must be a sequence of strings, got a single {type(texts).__name__}"
        raise DataValidationError(msg)
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            msg = (
                f"{name}[{i}] is {type(t).__name__} ({t!r}), not str; "
                "fill or drop missing messages first"
            )
            raise DataValidationError(msg)
    return out
