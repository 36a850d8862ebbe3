-- Backtest runs (issue 5): algoMosaic's model_backtest + backtest_metadata in
-- `backtest_runs`, backtest_summary in `backtest_summary`, plus the trade list
-- and the (possibly decimated) equity curve. Identical on SQLite and PostgreSQL.
-- Exact money is TEXT decimals; statistics are DOUBLE PRECISION; times are
-- BIGINT nanoseconds since the Unix epoch (UTC).

CREATE TABLE backtest_runs (
    run_id          TEXT    PRIMARY KEY,
    strategy        TEXT    NOT NULL,
    params          TEXT    NOT NULL,
    instruments     TEXT    NOT NULL,
    bar_interval    TEXT    NOT NULL,
    data_from       BIGINT  NOT NULL,
    data_to         BIGINT  NOT NULL,
    bars            BIGINT  NOT NULL,
    data_source     TEXT    NOT NULL,
    settings        TEXT    NOT NULL,
    code_version    TEXT    NOT NULL,
    started_at      BIGINT  NOT NULL,
    finished_at     BIGINT  NOT NULL
);

CREATE INDEX backtest_runs_started ON backtest_runs (started_at);

CREATE TABLE backtest_summary (
    run_id              TEXT    PRIMARY KEY REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    equity_final        DOUBLE PRECISION NOT NULL,
    return_pct          DOUBLE PRECISION NOT NULL,
    sharpe_ratio        DOUBLE PRECISION,
    max_drawdown_pct    DOUBLE PRECISION NOT NULL,
    trades              BIGINT  NOT NULL,
    final_equity_exact  TEXT    NOT NULL,
    stats               TEXT    NOT NULL
);

CREATE TABLE backtest_trades (
    run_id          TEXT    NOT NULL REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    seq             BIGINT  NOT NULL,
    instrument      TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    size            TEXT    NOT NULL,
    entry_time      BIGINT  NOT NULL,
    exit_time       BIGINT  NOT NULL,
    entry_price     TEXT    NOT NULL,
    exit_price      TEXT    NOT NULL,
    pnl             TEXT    NOT NULL,
    commission      TEXT    NOT NULL,
    return_pct      DOUBLE PRECISION NOT NULL,
    entry_bar       BIGINT  NOT NULL,
    exit_bar        BIGINT  NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE backtest_equity (
    run_id          TEXT    NOT NULL REFERENCES backtest_runs (run_id) ON DELETE CASCADE,
    seq             BIGINT  NOT NULL,
    ts              BIGINT  NOT NULL,
    equity          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, seq)
);
