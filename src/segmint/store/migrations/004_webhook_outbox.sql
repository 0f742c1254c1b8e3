-- The webhook outbox: one row per notification and webhook, written in the same transaction as
-- what caused the notification (the events that moved a customer, the alert), so a notification
-- exists exactly when its cause is stored. The sender takes each webhook's oldest row when it is
-- due (``next_attempt_at``), and moves it into webhook_deliveries (the log) once it is delivered,
-- failed for good or cancelled. ``seq`` keeps each webhook's notifications in order (it is
-- allocated by the one service process that holds the workspace, see store/outbox.py).

CREATE TABLE webhook_outbox (
    seq             BIGINT NOT NULL,
    delivery_id     VARCHAR NOT NULL,
    webhook_id      VARCHAR NOT NULL,
    event_type      VARCHAR NOT NULL,
    body            VARCHAR NOT NULL,  -- the exact bytes sent, the same on every attempt
    created_at      TIMESTAMP NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    response_code   INTEGER,
    error           VARCHAR
);

-- deliveries that the previous design kept only in memory and this log as pending: resumed here
INSERT INTO webhook_outbox
SELECT row_number() OVER (ORDER BY created_at, delivery_id), delivery_id, webhook_id, event_type,
       CAST(payload AS VARCHAR), created_at, attempts, updated_at, updated_at, response_code,
       error
FROM webhook_deliveries WHERE status IN ('pending', 'retrying') ORDER BY created_at;
DELETE FROM webhook_deliveries WHERE status IN ('pending', 'retrying');
