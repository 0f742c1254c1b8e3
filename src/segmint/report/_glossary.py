"""Plain words for the report's statistics, with the technical term and what it means.

The report shows the plain label and puts ``TECHNICAL: explanation`` on hover (the ``term``
macro of ``templates/components.html.j2``), so a marketer reads the page and an analyst still
finds the statistic they know.
"""

from __future__ import annotations

__all__ = ["GLOSSARY"]

#: term key -> (plain label, technical term, one-sentence explanation)
GLOSSARY: dict[str, tuple[str, str, str]] = {
    "silhouette": (
        "How distinct the segments are",
        "Silhouette score",
        "How much closer customers are to their own segment than to the next one, "
        "from -1 to 1; above 0.25 is usable.",
    ),
    "stability": (
        "How stable the segments are",
        "Adjusted Rand index (ARI)",
        "How alike the segments come out when re-run on resampled customers; 1 means identical.",
    ),
    "bic": (
        "Fit, penalised for complexity",
        "BIC (Bayesian information criterion)",
        "How well the model fits, with a penalty for every extra segment; lower is better.",
    ),
    "fidelity": (
        "rule accuracy",
        "Rule fidelity",
        "The share of customers the plain-language rule puts in the same segment as the model.",
    ),
    "sd": (
        "Difference from average",
        "Standardized difference, in standard deviations (sd)",
        "How far the segment's average sits from all customers' average, measured in standard "
        "deviations of the feature.",
    ),
    "eta2": (
        "Share of differences explained",
        "η² (eta squared)",
        "The share of the variation between customers that the grouping accounts for; higher "
        "means customers within a group are more alike.",
    ),
    "value_index": (
        "Spend vs. size",
        "Value index",
        "The segment's share of spend divided by its share of customers; above 1× it spends "
        "more than its size.",
    ),
    "confidence": (
        "How clearly customers fit",
        "Mean assignment confidence",
        "The model's average probability that a customer belongs to the segment they were put in.",
    ),
    "clv": (
        "Expected future spend",
        "CLV (customer lifetime value)",
        "What a customer is expected to spend over the horizon, from the purchase and spend "
        "models.",
    ),
    "p_alive": (
        "Chance a customer is still active",
        "P(alive)",
        "The probability that a customer has not quietly stopped buying.",
    ),
    "spearman": (
        "How well it ranks customers",
        "Spearman's rank correlation",
        "How closely the score orders customers by what they actually spent next; 1 is a "
        "perfect order, 0 no better than chance.",
    ),
    "roc_auc": (
        "Ranking quality",
        "ROC-AUC",
        "The chance that the model scores a customer who did it above one who did not; "
        "0.5 is guessing, 1 is perfect.",
    ),
    "brier": (
        "Probability error",
        "Brier score",
        "The average squared gap between the predicted probability and what happened; "
        "lower is better.",
    ),
    "ece": (
        "Calibration gap",
        "Expected calibration error",
        "How far predicted probabilities sit from the rates actually observed, on average; "
        "lower is better.",
    ),
    "average_precision": (
        "Hit rate of the top picks",
        "Average precision",
        "How many of the customers ranked highest really bought, averaged over list lengths; "
        "guessing gets the purchase rate.",
    ),
    "mae": (
        "Average error",
        "Mean absolute error (MAE)",
        "The average size of the prediction error, whichever direction it goes.",
    ),
    "holdout": (
        "Check on unseen data",
        "Held-out check",
        "The model is fitted on data up to a date and its predictions compared with what "
        "customers did after it.",
    ),
    "purchase_model": (
        "purchase model",
        "BTYD model (buy till you die)",
        "A statistical model of how often each customer buys and when they stop; it gives "
        "expected purchases and the chance a customer is still active.",
    ),
    "p_value": (
        "Chance it is luck",
        "p-value",
        "The probability of a difference at least this large if the campaign had no effect; "
        "under 5% is called significant.",
    ),
    "rfm": (
        "RFM",
        "Recency, frequency, monetary",
        "The classic scoring of customers from 1 to 5 on how recently, how often and how much "
        "they buy.",
    ),
}
