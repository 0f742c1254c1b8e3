-- Micro-segments of a run, each named, profiled and explained within its segment; the run's
-- assignments name them by micro_segment_id. Stored in the transaction that stores the run.
-- ``profile`` holds the rule's fidelity and precision, shares, distinguishing features and
-- feature means. Runs stored before this table have no rows here (their micro-segments are
-- ids only).
CREATE TABLE micro_segments (
    run_id           INTEGER NOT NULL,
    micro_segment_id VARCHAR NOT NULL,
    segment_id       INTEGER NOT NULL,
    name             VARCHAR NOT NULL,
    rule             VARCHAR NOT NULL,
    size             BIGINT NOT NULL,
    value_share      DOUBLE,
    profile          JSON NOT NULL,
    PRIMARY KEY (run_id, micro_segment_id)
);
