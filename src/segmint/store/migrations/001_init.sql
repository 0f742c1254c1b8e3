-- The canonical tables (see ../shared/DESIGN.md). Identifiers are strings, time is UTC.
CREATE TABLE transactions (
    customer_id VARCHAR NOT NULL,
    order_id    VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    product_id  VARCHAR,
    description VARCHAR,
    category    VARCHAR,
    quantity    DOUBLE,
    unit_price  DOUBLE,
    amount      DOUBLE NOT NULL,
    channel     VARCHAR,
    is_return   BOOLEAN NOT NULL,
    -- content hash + occurrence within its file: re-ingesting a file adds nothing,
    -- while genuinely repeated lines inside one file are all kept
    line_key    UBIGINT NOT NULL
);

CREATE TABLE customers (
    customer_id VARCHAR PRIMARY KEY,
    first_seen  TIMESTAMP,
    country     VARCHAR,
    attributes  JSON
);

CREATE TABLE ingests (
    ingest_id   INTEGER PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    rows_read   BIGINT NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_duplicate BIGINT NOT NULL,
    rejected    JSON NOT NULL
);

CREATE TABLE runs (
    run_id           INTEGER PRIMARY KEY,
    kind             VARCHAR NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    as_of            TIMESTAMP NOT NULL,
    params           JSON NOT NULL,
    metrics          JSON NOT NULL,
    data_fingerprint VARCHAR NOT NULL
);

CREATE TABLE segments (
    run_id      INTEGER NOT NULL,
    segment_id  INTEGER NOT NULL,
    parent_id   INTEGER,
    name        VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,
    size        BIGINT NOT NULL,
    value_share DOUBLE NOT NULL,
    profile     JSON NOT NULL
);

CREATE TABLE assignments (
    run_id           INTEGER NOT NULL,
    customer_id      VARCHAR NOT NULL,
    segment_id       INTEGER NOT NULL,
    micro_segment_id VARCHAR,
    confidence       DOUBLE,
    r_score          TINYINT,
    f_score          TINYINT,
    m_score          TINYINT,
    rfm_group        VARCHAR,
    map_x            FLOAT,
    map_y            FLOAT
);

-- each run's per-customer features live in their own wide table, run_features_<run_id>,
-- because the feature set depends on the data (top categories, attributes)

CREATE TABLE product_categories (
    product_id VARCHAR PRIMARY KEY,
    category   VARCHAR NOT NULL
);
