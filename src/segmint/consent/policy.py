"""The workspace's consent policy: the purposes data may be used for, what a customer without a
consent record is taken to have said for each (the regime), and the minimum audience size.

Stored in the ``settings`` table, so the CLI, the service and every output read the same
policy. A business under an opt-in law for marketing sets ``email=opt-in`` (and so on) while
keeping analytics opt-out; every output's summary says which regime it ran under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from segmint.errors import DataValidationError, SegmintError
from segmint.store.settings import get_setting, set_setting

__all__ = [
    "DEFAULT_PURPOSES",
    "REGIMES",
    "ConsentPolicy",
    "change_policy",
    "load_policy",
    "save_policy",
]

DEFAULT_PURPOSES = ("analytics", "email", "sms", "ads", "personalisation")
#: opt-out: no record means permitted; opt-in: no record means not permitted
REGIMES = ("opt-out", "opt-in")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_SETTING = "consent_policy"


@dataclass(frozen=True)
class ConsentPolicy:
    """Purposes, the regime of each, and the smallest group an output may describe.

    Examples
    --------
    >>> policy = ConsentPolicy(regimes={"email": "opt-in"})
    >>> policy.regime("email"), policy.regime("analytics")
    ('opt-in', 'opt-out')
    """

    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    default_regime: str = "opt-out"
    regimes: dict[str, str] = field(default_factory=dict)
    min_audience: int = 50

    def __post_init__(self) -> None:
        for name in self.purposes:
            if not _NAME.match(name):
                raise SegmintError(
                    f"purpose {name!r} is not a valid name; expected lower-case letters, digits, "
                    "'-' or '_' (at most 40), starting with a letter"
                )
        for regime in (self.default_regime, *self.regimes.values()):
            if regime not in REGIMES:
                raise SegmintError(f"unknown regime {regime!r}; expected one of {REGIMES}")
        unknown = sorted(set(self.regimes) - set(self.purposes))
        if unknown:
            raise SegmintError(f"regime given for unknown purposes {unknown}")
        if self.min_audience < 1:
            raise SegmintError("the minimum audience size must be at least 1")

    def check(self, purpose: str) -> str:
        """``purpose`` if the workspace knows it; else a clear error listing the known ones."""
        if purpose not in self.purposes:
            raise DataValidationError(
                f"unknown purpose {purpose!r}; this workspace's purposes are "
                f"{', '.join(self.purposes)} (see `segmint consent settings`)"
            )
        return purpose

    def regime(self, purpose: str) -> str:
        return self.regimes.get(self.check(purpose), self.default_regime)

    def to_dict(self) -> dict:
        return {
            "purposes": list(self.purposes),
            "default_regime": self.default_regime,
            "regimes": {p: self.regime(p) for p in self.purposes},
            "min_audience": self.min_audience,
        }


def load_policy(con: duckdb.DuckDBPyConnection) -> ConsentPolicy:
    """The workspace's policy (the defaults until one is saved, or in a workspace read
    before the settings existed)."""
    saved = get_setting(con, _SETTING)
    if saved is None:
        return ConsentPolicy()
    return ConsentPolicy(
        purposes=tuple(saved["purposes"]),
        default_regime=saved["default_regime"],
        regimes={p: r for p, r in saved["regimes"].items() if r != saved["default_regime"]},
        min_audience=int(saved["min_audience"]),
    )


def change_policy(
    policy: ConsentPolicy,
    purposes: str | None = None,
    regimes: list[str] = (),
    min_audience: int | None = None,
) -> ConsentPolicy:
    """``policy`` with the changes a user asked for: a comma-separated purpose list, regimes
    as ``opt-in`` (every purpose) or ``PURPOSE=opt-in``, and the minimum audience size."""
    names = policy.purposes
    if purposes is not None:
        names = tuple(dict.fromkeys(p.strip().lower() for p in purposes.split(",") if p.strip()))
        if not names:
            raise SegmintError("--purposes needs at least one purpose")
    default, each = policy.default_regime, {p: r for p, r in policy.regimes.items() if p in names}
    for given in regimes:
        name, _, value = given.rpartition("=")
        if not name:
            default, each = value, {}
        elif name not in names:
            raise SegmintError(
                f"--regime {given}: unknown purpose {name!r}; purposes: " + ", ".join(names)
            )
        else:
            each[name] = value
    return ConsentPolicy(
        purposes=names,
        default_regime=default,
        regimes={p: r for p, r in each.items() if r != default},
        min_audience=policy.min_audience if min_audience is None else min_audience,
    )


def save_policy(con: duckdb.DuckDBPyConnection, policy: ConsentPolicy) -> None:
    set_setting(con, _SETTING, policy.to_dict())
