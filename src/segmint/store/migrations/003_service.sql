-- The real-time service: events, API keys, webhooks and their delivery log, alerts, and how far
-- the service's write-ahead log has been applied to this database.

-- the canonical clickstream/telemetry/chat/consent events (see ../shared/DESIGN.md); purchases
-- are also stored as transaction lines, so batch runs see them
CREATE TABLE IF NOT EXISTS events (
    event_id    VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    source      VARCHAR,
    type        VARCHAR NOT NULL,
    properties  JSON
);

-- API keys: only a SHA-256 of the secret is kept; revoked keys stay for the record
CREATE TABLE api_keys (
    key_id      VARCHAR PRIMARY KEY,
    scope       VARCHAR NOT NULL,
    name        VARCHAR,
    key_hash    VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);

-- one row: the sequence number of the last write-ahead-log record whose rows are in this
-- database; updated in the same transaction as those rows, so replay never adds them twice
CREATE TABLE service_wal_state (
    id          INTEGER PRIMARY KEY,
    applied_seq BIGINT NOT NULL
);
INSERT INTO service_wal_state VALUES (1, 0);

CREATE TABLE webhooks (
    webhook_id  VARCHAR PRIMARY KEY,
    url         VARCHAR NOT NULL,
    secret      VARCHAR NOT NULL,
    event_types JSON NOT NULL,
    description VARCHAR,
    created_at  TIMESTAMP NOT NULL,
    deleted_at  TIMESTAMP
);

CREATE TABLE webhook_deliveries (
    delivery_id   VARCHAR PRIMARY KEY,
    webhook_id    VARCHAR NOT NULL,
    event_type    VARCHAR NOT NULL,
    payload       JSON NOT NULL,
    status        VARCHAR NOT NULL,
    attempts      INTEGER NOT NULL,
    response_code INTEGER,
    error         VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE alerts (
    alert_id    VARCHAR PRIMARY KEY,
    created_at  TIMESTAMP NOT NULL,
    run_id      INTEGER,
    segment_id  INTEGER,
    metric      VARCHAR NOT NULL,
    message     VARCHAR NOT NULL,
    evidence    JSON NOT NULL
);
