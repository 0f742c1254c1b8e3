-- The audit log: who read, exported, erased or changed what, when and for which purpose. Each
-- row is chained to the one before it (prev_hash) and sealed with a key kept outside the
-- database (entry_hash, see consent/audit.py), so an edited, removed, inserted or reordered row
-- is found by `segmint audit verify`. No primary key: verify reports a duplicated seq as such.
-- target never holds a raw customer id, only a pseudonym (consent/pseudonym.py).
CREATE TABLE IF NOT EXISTS audit_log (
    seq         BIGINT NOT NULL,
    ts          TIMESTAMP NOT NULL,
    actor       VARCHAR NOT NULL,  -- key:<api key id> or cli:<os user>
    action      VARCHAR NOT NULL,  -- export, customer.read, erase, key.create, ...
    purpose     VARCHAR,
    target      VARCHAR,
    rows        BIGINT,
    detail      JSON,
    prev_hash   VARCHAR NOT NULL,
    entry_hash  VARCHAR NOT NULL
);

-- Pseudonymisation keys, one active (retired_at NULL) per destination (export, webhook:<id>,
-- google-ads, ...): 32 random bytes sealed under the workspace's secrets.key, so the database
-- file alone cannot turn a customer id into the pseudonym a destination received.
CREATE TABLE IF NOT EXISTS pseudonym_keys (
    destination VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    sealed_key  VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP
);
