-- Refits of the service (POST /v1/runs or its schedule): recorded when they start, so one that
-- never finished (the process killed) is reported as interrupted after a restart.
-- (Numbered 005: 004 is the webhook outbox.)
CREATE TABLE refits (
    refit_id    INTEGER PRIMARY KEY,
    trigger     VARCHAR NOT NULL,      -- request, schedule
    state       VARCHAR NOT NULL,      -- running, done, failed, interrupted
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    run_id      INTEGER,
    error       VARCHAR
);
