-- Fitted models of a run as JSON (never pickles), so the service can assign customers live
-- with exactly the batch model.
CREATE TABLE models (
    run_id  INTEGER NOT NULL,
    name    VARCHAR NOT NULL,
    payload JSON NOT NULL,
    PRIMARY KEY (run_id, name)
);

-- Per-customer scores of a run (segmint predict): lifetime value with its interval, the BTYD
-- quantities, churn risk with its top reasons, next purchase and the best category propensity.
CREATE TABLE predictions (
    run_id              INTEGER NOT NULL,
    customer_id         VARCHAR NOT NULL,
    clv                 DOUBLE,
    clv_lower           DOUBLE,
    clv_upper           DOUBLE,
    p_alive             DOUBLE,
    expected_purchases  DOUBLE,
    churn_risk          DOUBLE,
    churn_reasons       VARCHAR,
    next_purchase       DATE,
    top_category        VARCHAR,
    top_category_propensity DOUBLE,
    high_value          BOOLEAN,
    at_risk             BOOLEAN
);
