-- ML model registry (issue 6): algoMosaic's model tables, keyed by a model execution id.
-- One row per training run in `ml_models` (metadata, stage, data range, artefact and its
-- SHA-256); parameters, feature list, performance per evaluation (train, test, each
-- walk-forward fold), feature importance per ticker, links to backtests and stored
-- predictions hang off it. Identical on SQLite and PostgreSQL; times are BIGINT nanoseconds
-- since the Unix epoch (UTC); JSON is TEXT.

CREATE TABLE ml_models (
    execution_id    TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    kind            TEXT    NOT NULL,
    task            TEXT    NOT NULL,
    stage           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    data_from       BIGINT  NOT NULL,
    data_to         BIGINT  NOT NULL,
    symbols         TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    bar_interval    TEXT    NOT NULL,
    feature_set     TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    data_query      TEXT    NOT NULL,
    code_version    TEXT    NOT NULL,
    artefact_uri    TEXT    NOT NULL,
    artefact_sha256 TEXT    NOT NULL,
    metrics         TEXT    NOT NULL,
    UNIQUE (name, version)
);

CREATE INDEX ml_models_stage ON ml_models (name, stage);

CREATE TABLE ml_model_params (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (execution_id, name)
);

CREATE TABLE ml_model_features (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    position        BIGINT  NOT NULL,
    name            TEXT    NOT NULL,
    PRIMARY KEY (execution_id, position)
);

CREATE TABLE ml_model_performance (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    evaluation      TEXT    NOT NULL,
    fold            BIGINT,
    rows_scored     BIGINT  NOT NULL,
    data_from       BIGINT  NOT NULL,
    data_to         BIGINT  NOT NULL,
    metric          TEXT    NOT NULL,
    value           DOUBLE PRECISION,
    PRIMARY KEY (execution_id, evaluation, metric)
);

CREATE TABLE ml_feature_importance (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    method          TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    feature         TEXT    NOT NULL,
    value           DOUBLE PRECISION,
    PRIMARY KEY (execution_id, method, symbol, feature)
);

CREATE TABLE ml_model_backtests (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    backtest_run_id TEXT    NOT NULL,
    linked_at       BIGINT  NOT NULL,
    PRIMARY KEY (execution_id, backtest_run_id)
);

CREATE TABLE ml_predictions (
    execution_id    TEXT    NOT NULL REFERENCES ml_models (execution_id) ON DELETE CASCADE,
    symbol          TEXT    NOT NULL,
    ts              BIGINT  NOT NULL,
    horizon         BIGINT  NOT NULL,
    value           DOUBLE PRECISION,
    probs           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (execution_id, symbol, ts)
);

CREATE INDEX ml_predictions_symbol_ts ON ml_predictions (symbol, ts);
