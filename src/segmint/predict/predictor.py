"""Every model of a prediction, fitted: one kernel that scores customers as of a date.

A customer's scores depend on their own features and RFM summary, and on a fixed cohort for
the spend model's percentiles, so the kernel scores a workspace's customers at once or, batch
by batch, every customer in Spark with models fitted on a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from segmint.predict.btyd import lifetime_value_scores
from segmint.predict.churn import ChurnModel
from segmint.predict.gamma_gamma import GammaGamma
from segmint.predict.propensity import NextPurchaseModel, PropensityModel
from segmint.predict.scoring import (
    churn_scores,
    next_purchase_scores,
    propensity_scores,
    spend_cohort,
    spend_scores,
)
from segmint.predict.spend import SpendCohort, SpendModel, btyd_features, combine_clv

__all__ = ["BTYD_SCORES", "Predictor"]

#: the purchase and spend models' per-customer scores (0 for a customer without a summary row)
BTYD_SCORES = ("clv", "clv_lower", "clv_upper", "p_alive", "expected_purchases")


@dataclass
class Predictor:
    """The fitted models of a prediction as of ``as_of``.

    Attributes
    ----------
    purchase_model, gamma_gamma
        The BTYD purchase model and the Gamma-Gamma spend model (lifetime value).
    churn, propensity, next_purchase, spend
        The supervised models (``propensity`` None where purchases have no category).
    spearman : dict
        The held-out rank correlations that choose the CLV (:func:`combine_clv`).
    alive : model or None
        The model whose P(alive) is stored, where it is not the purchase model's.
    alive_from_churn : bool
        P(alive) is 1 - the churn risk (no BTYD model identifies dropout).
    cohort : SpendCohort, optional
        The customers the spend model ranks each customer among (:meth:`spend_cohort`);
        None: the rows scored together.
    """

    as_of: datetime
    horizon_days: int
    purchase_model: object
    gamma_gamma: GammaGamma
    churn: ChurnModel
    propensity: PropensityModel | None
    next_purchase: NextPurchaseModel
    spend: SpendModel
    spearman: dict
    alive: object | None = None
    alive_from_churn: bool = False
    cohort: SpendCohort | None = None

    def spend_rows(
        self, features: pd.DataFrame, summary: pd.DataFrame, btyd: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """The spend model's rows: the features with the BTYD view of each customer (0 for a
        customer who returned all they bought, who has no summary row). ``btyd``: the summary's
        lifetime-value scores, where already computed."""
        btyd = self._btyd(summary) if btyd is None else btyd
        btyd = btyd_features(summary, btyd).set_index("customer_id")
        return features.join(btyd.reindex(features.index).fillna(0.0))

    def spend_cohort(self, features: pd.DataFrame, summary: pd.DataFrame) -> SpendCohort:
        """The spend model's cohort of these customers (e.g. a sample of everyone now), to
        score any batch of customers among them."""
        return spend_cohort(self.spend, self.spend_rows(features, summary))

    def _btyd(self, summary: pd.DataFrame) -> pd.DataFrame:
        return lifetime_value_scores(self.purchase_model, self.gamma_gamma, summary)

    def score(self, features: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
        """Every score of the customers of ``features`` (indexed by ``customer_id``), given
        their RFM summary rows (``customer_id``, ``frequency``, ``recency``, ``T``,
        ``monetary_value``; a customer without one returned all they bought).

        Returns
        -------
        DataFrame
            Indexed as ``features``: :data:`BTYD_SCORES`, ``churn_risk``, ``churn_reasons``,
            ``top_category`` and ``top_category_propensity`` (with a propensity model),
            ``next_purchase``, ``clv_btyd``; ``clv`` is the CLV :func:`combine_clv` keeps.
        """
        # customers who returned all they bought have no summary row: no value, not alive
        scored = self._btyd(summary)
        btyd = scored.reindex(features.index).fillna(0.0)
        parts = [btyd, churn_scores(self.churn, features)]
        if self.propensity is not None:
            parts.append(propensity_scores(self.propensity, features))
        parts.append(next_purchase_scores(self.next_purchase, features, self.as_of))
        scores = pd.concat(parts, axis=1)
        forecast = spend_scores(
            self.spend, self.spend_rows(features, summary, scored), cohort=self.cohort
        )
        scores["clv_btyd"] = scores["clv"]
        scores["clv"], _ = combine_clv(
            forecast, scores["clv_btyd"], self.spearman, self.horizon_days
        )
        if self.alive_from_churn:
            scores["p_alive"] = 1.0 - scores["churn_risk"].fillna(1.0)
        elif self.alive is not None:
            f, r, t = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
            alive = pd.Series(self.alive.p_alive(f, r, t), index=summary["customer_id"])
            scores["p_alive"] = alive.reindex(features.index).fillna(0.0)
        return scores
