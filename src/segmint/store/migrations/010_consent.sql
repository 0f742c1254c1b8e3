-- The consent ledger (segmint.consent): an append-only Merkle log of consent changes with
-- signed checkpoints, in the style of RFC 9162 (Certificate Transparency).
-- One key per customer; erasure deletes the row, so the ledger's entries of that customer can
-- no longer be tied to them (crypto-shredding).
CREATE TABLE IF NOT EXISTS consent_subjects (
    customer_id  VARCHAR PRIMARY KEY,
    subject_key  BLOB NOT NULL,          -- 32 random bytes
    customer_ref VARCHAR NOT NULL        -- hex HMAC-SHA256(subject_key, customer_id utf-8)
);
-- No primary key: the ledger's verification finds duplicated sequence numbers itself.
CREATE TABLE IF NOT EXISTS consent_ledger (
    seq          BIGINT NOT NULL,        -- 0, 1, 2, ... = leaf index
    customer_ref VARCHAR NOT NULL,
    purpose      VARCHAR NOT NULL,       -- analytics, email, sms, ...; '*' for an erasure
    status       VARCHAR NOT NULL,       -- granted | withdrawn | erased
    source       VARCHAR,                -- file name, 'api', 'event', 'erasure', ...
    ts           TIMESTAMP NOT NULL,     -- when the customer gave or withdrew it (UTC)
    evidence     VARCHAR,                -- form id, URL, message id
    recorded_at  TIMESTAMP NOT NULL,
    leaf_hash    VARCHAR NOT NULL,       -- hex SHA-256(0x00 || leaf bytes)
    leaf_mac     VARCHAR NOT NULL        -- hex SHA-256(mac key || leaf hash bytes)
);
CREATE TABLE IF NOT EXISTS consent_checkpoints (
    checkpoint_id BIGINT NOT NULL,       -- 1, 2, ...
    tree_size     BIGINT NOT NULL,
    root          VARCHAR NOT NULL,      -- hex
    created_at    TIMESTAMP NOT NULL,
    key_id        VARCHAR NOT NULL,      -- first 16 hex of SHA-256(public key raw bytes)
    signature     VARCHAR NOT NULL       -- base64 Ed25519 over the checkpoint's canonical bytes
);

-- the roots of the perfect subtrees of the latest checkpoint's tree (at most 64): an append
-- extends them instead of rebuilding the tree. Derived data: used only while they still fold
-- to that checkpoint's signed root, and `segmint consent verify` never reads them.
CREATE TABLE consent_frontier (
    tree_size   BIGINT NOT NULL,
    height      INTEGER NOT NULL,
    hash        VARCHAR NOT NULL
);
