-- Fitted models of a run as JSON (never pickles), so the service can assign customers live
-- with exactly the batch model.
CREATE TABLE models (
    run_id  INTEGER NOT NULL,
    name    VARCHAR NOT NULL,
    payload JSON NOT NULL,
    PRIMARY KEY (run_id, name)
);
