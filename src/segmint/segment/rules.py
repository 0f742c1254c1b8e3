"""Readable rules for segments from shallow surrogate decision trees on original-unit features."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_random_state

from segmint.features.labels import INDICATOR_SEPARATOR, is_share
from segmint.segment._validation import as_labels, to_python
from segmint.segment.profile import prepare_features

__all__ = ["Condition", "SegmentRule", "format_number", "nice_round", "segment_rules"]


@dataclass(frozen=True)
class Condition:
    """One comparison of a rule: ``feature op threshold`` with op one of ``<=``, ``>``, ``>=``."""

    feature: str
    op: str
    threshold: float

    def mask(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values`` (one feature column) that satisfy the condition."""
        if self.op == "<=":
            return values <= self.threshold
        if self.op == ">=":
            return values >= self.threshold
        return values > self.threshold


@dataclass
class SegmentRule:
    """A conjunction of conditions describing one segment.

    Attributes
    ----------
    segment_id : int or str
    conditions : list of Condition
        Empty when no split separates the segment (the rule is "all customers").
    text : str
        Human-readable rule, e.g. ``"recency_days > 120 and monetary > 1,500"``.
    fidelity : float
        Recall: share of the segment's members that satisfy the rule.
    precision : float
        Share of the customers satisfying the rule who belong to the segment.
    n_covered : int
        Customers (members or not) satisfying the rule.
    """

    segment_id: Any
    conditions: list[Condition] = field(default_factory=list)
    text: str = "all customers"
    fidelity: float = 1.0
    precision: float = 0.0
    n_covered: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        out = asdict(self)
        out["segment_id"] = to_python(self.segment_id)
        out["conditions"] = [
            {"feature": c.feature, "op": c.op, "threshold": to_python(c.threshold)}
            for c in self.conditions
        ]
        for key in ("fidelity", "precision", "n_covered"):
            out[key] = to_python(out[key])
        return out


def nice_round(x: float, sig: int = 2) -> float:
    """Round ``x`` to ``sig`` significant digits (``1523 -> 1500``, ``0.347 -> 0.35``)."""
    if x == 0 or not math.isfinite(x):
        return x
    digits = sig - 1 - math.floor(math.log10(abs(x)))
    return round(x, digits)


def format_number(x: float) -> str:
    """Format a threshold for humans: thousands separators, no trailing zeros.

    Examples
    --------
    >>> format_number(1500.0), format_number(0.35), format_number(12.0), format_number(-2500.5)
    ('1,500', '0.35', '12', '-2,500.5')
    """
    if float(x).is_integer():
        return f"{int(x):,}"
    text = f"{x:,.6f}".rstrip("0").rstrip(".")
    return text


def _leaf_paths(tree: DecisionTreeClassifier, names: list[str]) -> dict[int, list[Condition]]:
    """Conditions leading to each leaf; a node whose leaves all predict the same class counts
    as one leaf (so ``x > 7.5`` is not split into ``7.5 < x <= 8.5`` and ``x > 8.5``)."""
    t = tree.tree_
    predicted = t.value[:, 0, :].argmax(axis=1)
    uniform: dict[int, int] = {}  # node -> class when every leaf below predicts it, else -1

    def visit(node: int) -> int:
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            uniform[node] = int(predicted[node])
        else:
            a, b = visit(left), visit(right)
            uniform[node] = a if a == b else -1
        return uniform[node]

    visit(0)
    paths: dict[int, list[Condition]] = {}
    stack: list[tuple[int, list[Condition]]] = [(0, [])]
    while stack:
        node, conds = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1 or uniform[node] != -1:
            paths[node] = conds
            continue
        name, thr = names[t.feature[node]], float(t.threshold[node])
        stack.append((left, [*conds, Condition(name, "<=", thr)]))
        stack.append((right, [*conds, Condition(name, ">", thr)]))
    return paths


def _simplify(conds: list[Condition]) -> list[Condition]:
    """Keep the tightest bound per feature and direction, in first-use order."""
    lower: dict[str, float] = {}
    upper: dict[str, float] = {}
    order: list[str] = []
    for c in conds:
        if c.feature not in order:
            order.append(c.feature)
        if c.op == "<=":
            upper[c.feature] = min(upper.get(c.feature, math.inf), c.threshold)
        else:
            lower[c.feature] = max(lower.get(c.feature, -math.inf), c.threshold)
    out = []
    for f in order:
        if f in lower:
            out.append(Condition(f, ">", lower[f]))
        if f in upper:
            out.append(Condition(f, "<=", upper[f]))
    return out


def _round_conditions(
    conds: list[Condition], sig: int, integer_features: set[str]
) -> list[Condition]:
    out = []
    for c in conds:
        thr = nice_round(c.threshold, sig)
        if c.feature in integer_features and not float(thr).is_integer():
            # integer-valued feature: "> 3.5" is ">= 4", "<= 3.5" is "<= 3"
            if c.op == ">":
                out.append(Condition(c.feature, ">=", float(math.floor(thr) + 1)))
            else:
                out.append(Condition(c.feature, "<=", float(math.floor(thr))))
            continue
        out.append(Condition(c.feature, c.op, float(thr)))
    return out


def _coverage(conds: list[Condition], columns: dict[str, np.ndarray], n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for c in conds:
        mask &= c.mask(columns[c.feature])
    return mask


def _describe(
    conds: list[Condition],
    labels_map: dict[str, str] | None,
    binary: dict[str, tuple[str, str]] | None = None,
) -> str:
    if not conds:
        return "all customers"
    labels_map = labels_map or {}
    binary = binary or {}
    return " and ".join(
        binary[c.feature][c.op == "<="]
        if c.feature in binary
        else f"{labels_map.get(c.feature, c.feature)} {c.op} {_threshold(c)}"
        for c in conds
    )


def _threshold(c: Condition) -> str:
    """The threshold as a person writes it: a share as a percentage ("> 44%")."""
    if is_share(c.feature):
        return format_number(nice_round(c.threshold * 100, 3)) + "%"
    return format_number(c.threshold)


def _binary_texts(X: pd.DataFrame, labels_map: dict[str, str]) -> dict[str, tuple[str, str]]:
    """What "is 1" and "is 0" say for each 0/1 attribute column, never "> 0.5" or ">= 1".

    A plain one reads as itself or "no <it>" ("paperless billing", "no paperless billing"); a
    one-hot column (labelled "<key> is <value>") as itself or, when every customer holds one
    of its attribute's values and there are at most two others, those ("contract is one year
    or two year"), else "<key> is not <value>".
    """
    columns = [c for c in X.columns if c.startswith("attr_") and X[c].isin((0, 1)).all()]
    texts = {}
    for c in columns:
        label = labels_map.get(c, c)
        key, sep, _ = c.partition(INDICATOR_SEPARATOR)
        if not sep:
            texts[c] = (label, f"no {label}")
            continue
        group = [g for g in columns if g.startswith(key + INDICATOR_SEPARATOR)]
        others = [labels_map.get(g, g).partition(" is ")[2] for g in group if g != c]
        if 1 <= len(others) <= 2 and (X[group].sum(axis=1) == 1).all():
            texts[c] = (label, f"{label.partition(' is ')[0]} is {' or '.join(others)}")
        else:
            texts[c] = (label, label.replace(" is ", " is not ", 1))
    return texts


def segment_rules(
    features: Any,
    labels: Any,
    *,
    max_depth: int = 3,
    labels_map: dict[str, str] | None = None,
    min_leaf_share: float = 0.01,
    sample_size: int = 50_000,
    max_fidelity_loss: float = 0.01,
    columns: dict[Any, list[str]] | None = None,
    random_state: Any = 0,
) -> dict[Any, SegmentRule]:
    """One readable rule per segment from one-vs-rest surrogate decision trees.

    For each segment a ``DecisionTreeClassifier(max_depth, class_weight="balanced")`` is fitted
    to separate its members from everyone else on the original-unit features. Each leaf that
    predicts the segment is a candidate conjunction; when several leaves do (the tree's rule is
    a disjunction) the one covering most members is kept (ties: higher precision). Conditions on
    the same feature are merged, thresholds are rounded to 1 significant digit (2, then 3,
    if rounding costs more than ``max_fidelity_loss`` of fidelity or precision; never more) and
    integer-valued features get integer bounds. Fidelity and precision are measured on all
    rows with the rounded thresholds.

    Parameters
    ----------
    features : table of shape (n_customers, n_features)
        Original-unit features (``customer_id`` column allowed, used as index). Missing values
        are replaced by the feature median (for fitting and for measuring coverage).
    labels : array-like of shape (n_customers,)
        Segment of each row.
    max_depth : int, default=3
        Depth of each tree, so at most ``max_depth`` conditions per rule.
    labels_map : dict of str to str, optional
        Readable labels for features in the rule text, e.g.
        ``{"recency_days": "days since last order"}``.
    min_leaf_share : float, default=0.01
        Smallest leaf, as a share of the rows the tree is fitted on (avoids tiny leaves).
    sample_size : int, default=50000
        Trees are fitted on at most this many rows (half members, half others where
        possible); coverage is always measured on all rows.
    max_fidelity_loss : float, default=0.01
        Largest drop in fidelity or precision accepted from rounding thresholds.
    columns : dict of segment id to list of str, optional
        The features each segment's tree may split on (default: all), e.g. the few that set
        it apart: many small trees then stay fast, and the rule speaks of those features.
    random_state : int, RandomState or None, default=0

    Returns
    -------
    dict of segment id to SegmentRule
        ``fidelity`` is the share of the segment's members the rule covers (recall);
        ``precision`` is the share of covered customers who are members.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"recency_days": [10, 20, 30, 200, 220, 250], "monetary": [5.0] * 6})
    >>> rules = segment_rules(X, [0, 0, 0, 1, 1, 1], min_leaf_share=0.0)
    >>> rules[1].text, rules[1].fidelity, rules[1].precision
    ('recency_days > 100', 1.0, 1.0)
    """
    frame = prepare_features(features)
    lab = as_labels(labels, frame.shape[0])
    with np.errstate(all="ignore"):
        medians = frame.median(skipna=True).fillna(0.0)
    X = frame.fillna(medians)
    names = list(X.columns)
    position = {f: i for i, f in enumerate(names)}
    values = X.to_numpy()
    # the trees split float32 (sklearn converts): converted once, not once per tree
    values32 = values.astype(np.float32)
    n = values.shape[0]
    # plain arrays: thousands of micro-segments' rules are measured on these
    by_name = {f: np.ascontiguousarray(values[:, i]) for f, i in position.items()}
    integer_features = {
        f for f, col in zip(names, values.T, strict=True) if np.all(np.mod(col, 1) == 0)
    }
    binary = _binary_texts(X, labels_map or {})
    rng = check_random_state(random_state)
    half = max(1, sample_size // 2)
    rules: dict[Any, SegmentRule] = {}
    # integer codes: comparing string labels once per segment costs more than the trees
    segments, codes = np.unique(lab, return_inverse=True)
    for code, seg in enumerate(segments):
        member = codes == code
        n_members = int(member.sum())
        pos = np.flatnonzero(member)
        neg = np.flatnonzero(~member)
        if neg.size == 0:
            rules[seg] = SegmentRule(seg, [], "all customers", 1.0, 1.0, n_members)
            continue
        pos_s = rng.choice(pos, half, replace=False) if pos.size > half else pos
        neg_s = rng.choice(neg, half, replace=False) if neg.size > half else neg
        idx = np.concatenate([pos_s, neg_s])
        y = member[idx]
        use = names if columns is None else columns.get(seg, names)
        # class_weight="balanced", computed here: sklearn's costs more than thousands of
        # micro-segments' trees do, as does checking arrays already made right
        balanced = np.where(y, idx.size / (2 * y.sum()), idx.size / (2 * (idx.size - y.sum())))
        tree = DecisionTreeClassifier(
            max_depth=max_depth,
            min_samples_leaf=max(1, int(min_leaf_share * idx.size)),
            random_state=int(rng.randint(np.iinfo(np.int32).max)),
        ).fit(
            np.asfortranarray(values32[np.ix_(idx, [position[f] for f in use])]),
            y,
            sample_weight=balanced,
            check_input=False,
        )
        paths = _leaf_paths(tree, use)
        # weighted share of members in each node (class_weight="balanced")
        pos_col = list(tree.classes_).index(True) if True in tree.classes_ else None
        value = tree.tree_.value[:, 0, :]
        node_pos = value[:, pos_col] / value.sum(axis=1) if pos_col is not None else 0 * value[:, 0]
        leaf_pos = {node: float(node_pos[node]) for node in paths}
        candidates = [node for node, p in leaf_pos.items() if p > 0.5] or [
            max(leaf_pos, key=lambda node: leaf_pos[node])
        ]

        best: tuple[int, float, list[Condition]] | None = None
        for leaf in sorted(candidates):
            conds = _simplify(paths[leaf])
            cover = _coverage(conds, by_name, n)
            hits = int((cover & member).sum())
            prec = hits / max(int(cover.sum()), 1)
            if best is None or (hits, prec) > (best[0], best[1]):
                best = (hits, prec, conds)
        assert best is not None
        raw_hits, raw_prec, raw_conds = best
        raw_fid = raw_hits / n_members
        # never print a raw split point ("10.03897"): 3 significant digits is the finest
        for sig in (1, 2, 3):
            chosen = _round_conditions(raw_conds, sig, integer_features)
            cover = _coverage(chosen, by_name, n)
            hits = int((cover & member).sum())
            prec = hits / max(int(cover.sum()), 1)
            if (
                hits / n_members >= raw_fid - max_fidelity_loss
                and prec >= raw_prec - max_fidelity_loss
            ):
                break
        cover = _coverage(chosen, by_name, n)
        hits = int((cover & member).sum())
        rules[seg] = SegmentRule(
            segment_id=seg,
            conditions=chosen,
            text=_describe(chosen, labels_map, binary),
            fidelity=hits / n_members,
            precision=hits / max(int(cover.sum()), 1),
            n_covered=int(cover.sum()),
        )
    return rules
