-- Foundation schema: security master, bars, top of book, ingest cursors.
-- Prices and quantities are TEXT decimals (exact, scale as written); times are
-- INTEGER nanoseconds since the Unix epoch, UTC. The PostgreSQL migration of the
-- same number defines the same tables and columns.

CREATE TABLE instruments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol          TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    quote_currency  TEXT    NOT NULL,
    base_currency   TEXT,
    tick_size       TEXT    NOT NULL,
    lot_size        TEXT    NOT NULL,
    min_quantity    TEXT    NOT NULL,
    multiplier      TEXT    NOT NULL,
    timezone        TEXT    NOT NULL,
    active          BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (venue, symbol)
);

CREATE TABLE bars (
    instrument_id   BIGINT  NOT NULL REFERENCES instruments (id),
    interval        TEXT    NOT NULL,
    open_time       BIGINT  NOT NULL,
    open            TEXT    NOT NULL,
    high            TEXT    NOT NULL,
    low             TEXT    NOT NULL,
    close           TEXT    NOT NULL,
    volume          TEXT    NOT NULL,
    trade_count     BIGINT,
    quote_volume    TEXT,
    PRIMARY KEY (instrument_id, interval, open_time)
) WITHOUT ROWID;

CREATE TABLE quotes (
    instrument_id   BIGINT  NOT NULL REFERENCES instruments (id),
    ts_event        BIGINT  NOT NULL,
    bid_price       TEXT    NOT NULL,
    bid_size        TEXT    NOT NULL,
    ask_price       TEXT    NOT NULL,
    ask_size        TEXT    NOT NULL,
    PRIMARY KEY (instrument_id, ts_event)
) WITHOUT ROWID;

CREATE TABLE ingest_cursors (
    instrument_id   BIGINT  NOT NULL REFERENCES instruments (id),
    interval        TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    last_open_time  BIGINT,
    last_error      TEXT,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (instrument_id, interval)
);
