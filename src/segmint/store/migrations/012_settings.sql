-- Workspace-wide settings a business decides once (consent purposes, the regime for customers
-- without a consent record, the minimum audience size), as JSON values by name.
CREATE TABLE IF NOT EXISTS settings (
    name  VARCHAR PRIMARY KEY,
    value JSON NOT NULL
);

-- Customers erased (`segmint erase`), remembered only by a keyed hash of their id (the key is
-- sealed outside the database file), so data of theirs ingested again stays out of outputs.
CREATE TABLE IF NOT EXISTS erased_customers (
    ref       VARCHAR PRIMARY KEY,
    erased_at TIMESTAMP NOT NULL
);

-- Each webhook declares the consent purpose its notifications serve, whether it receives raw
-- customer ids (admin's explicit choice) instead of pseudonyms, and counts what consent kept
-- from it.
ALTER TABLE webhooks ADD COLUMN purpose VARCHAR DEFAULT 'personalisation';
ALTER TABLE webhooks ADD COLUMN raw_ids BOOLEAN DEFAULT false;
ALTER TABLE webhooks ADD COLUMN withheld BIGINT DEFAULT 0;
-- webhooks registered before (by admins, who may ask for raw ids) keep receiving what their
-- receivers were built for; new ones get pseudonyms unless they ask
UPDATE webhooks SET raw_ids = true;
