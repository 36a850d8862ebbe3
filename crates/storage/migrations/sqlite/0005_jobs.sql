-- Scheduler (issue 8): the durable job queue, captured log lines, schedules
-- and their runs, leases (leader election) and supervised processes.
-- Same tables and columns on SQLite and PostgreSQL; only the auto-increment
-- id differs. Times are BIGINT nanoseconds since the Unix epoch (UTC);
-- flags are BIGINT 0/1; parameters and results are JSON text.

CREATE TABLE schedule_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule        TEXT    NOT NULL,
    slot            BIGINT  NOT NULL,
    status          TEXT    NOT NULL,
    steps           TEXT    NOT NULL,
    step            BIGINT  NOT NULL DEFAULT 0,
    job_id          BIGINT,
    detail          TEXT,
    created_at      BIGINT  NOT NULL,
    finished_at     BIGINT,
    -- One row per schedule and slot: the guarantee that no slot runs twice,
    -- even when two schedulers race.
    UNIQUE (schedule, slot)
);

CREATE INDEX schedule_runs_status ON schedule_runs (schedule, status);

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type            TEXT    NOT NULL,
    params              TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    priority            BIGINT  NOT NULL DEFAULT 0,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    max_attempts        BIGINT  NOT NULL,
    run_after           BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    started_at          BIGINT,
    finished_at         BIGINT,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    heartbeat_at        BIGINT,
    cancel_requested    BIGINT  NOT NULL DEFAULT 0,
    error               TEXT,
    result              TEXT,
    schedule_run_id     BIGINT  REFERENCES schedule_runs (id) ON DELETE SET NULL,
    step                BIGINT
);

-- The claim query walks this index: queued jobs, highest priority, oldest first.
CREATE INDEX jobs_queue ON jobs (status, priority, run_after, id);
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);
CREATE INDEX jobs_finished ON jobs (finished_at);

CREATE TABLE job_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     BIGINT  NOT NULL,
    ts          BIGINT  NOT NULL,
    level       TEXT    NOT NULL,
    message     TEXT    NOT NULL
);

CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE schedules (
    name        TEXT    PRIMARY KEY,
    definition  TEXT    NOT NULL,
    last_slot   BIGINT,
    updated_at  BIGINT  NOT NULL
);

CREATE TABLE leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL,
    acquired_at BIGINT  NOT NULL
);

CREATE TABLE processes (
    name            TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    host            TEXT    NOT NULL,
    pid             BIGINT  NOT NULL,
    restarts        BIGINT  NOT NULL,
    started_at      BIGINT  NOT NULL,
    heartbeat_at    BIGINT  NOT NULL,
    last_error      TEXT
);
