-- Labelled example messages (text, intent): with some, conversations are read for intents too.
CREATE TABLE IF NOT EXISTS intents (
    text    VARCHAR NOT NULL,
    intent  VARCHAR NOT NULL
);
