-- Campaigns (segmint campaign): who was chosen, who was held out (a keyed hash of the customer
-- and the campaign, fixed at creation), and each measurement of treated against holdout.
CREATE TABLE IF NOT EXISTS campaigns (
    name            VARCHAR PRIMARY KEY,
    run_id          INTEGER NOT NULL,
    selection_kind  VARCHAR NOT NULL,
    selection_key   VARCHAR NOT NULL,
    selection_label VARCHAR NOT NULL,
    holdout_share   DOUBLE NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    starts_at       TIMESTAMP NOT NULL,
    treated         BIGINT NOT NULL,
    holdout         BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS campaign_members (
    name        VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    holdout     BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS campaign_results (
    name        VARCHAR NOT NULL,
    measured_at TIMESTAMP NOT NULL,
    days        INTEGER NOT NULL,
    complete    BOOLEAN NOT NULL,
    metrics     JSON NOT NULL
);
