-- Recommendations of a run (`segmint recommend`): each customer's top items, and the items
-- featured per segment (the most bought there). description: the product's most common one.
CREATE TABLE IF NOT EXISTS recommendations (
    run_id      BIGINT NOT NULL,
    customer_id VARCHAR NOT NULL,
    rank        INTEGER NOT NULL,
    product_id  VARCHAR NOT NULL,
    description VARCHAR,
    score       DOUBLE
);

CREATE TABLE IF NOT EXISTS segment_recommendations (
    run_id      BIGINT NOT NULL,
    segment_id  INTEGER NOT NULL,
    rank        INTEGER NOT NULL,
    product_id  VARCHAR NOT NULL,
    description VARCHAR,
    score       DOUBLE,
    buyers      BIGINT
);
