-- Every source of customer data beyond purchases (see ../shared/DESIGN.md): conversations, and
-- the identifiers that link anonymous cookies and devices, emails and phones to customers.
-- Web, app, device and social events go to the `events` table the service already fills.
CREATE TABLE IF NOT EXISTS messages (
    message_id      VARCHAR NOT NULL,
    conversation_id VARCHAR,
    customer_id     VARCHAR NOT NULL,
    ts              TIMESTAMP NOT NULL,
    channel         VARCHAR,
    role            VARCHAR,
    text            VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS identities (
    identifier  VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL
);
