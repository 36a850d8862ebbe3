-- Live and paper trading (issue 7): the persistent order stack, its state
-- changes, fills, positions per strategy and instrument, small key/value
-- state (kill switch, paper broker), and account value history. Identical
-- columns on SQLite and PostgreSQL. Exact numbers are TEXT decimals; times
-- are BIGINT nanoseconds since the Unix epoch (UTC).

-- One row per order, written before it is sent to any broker; the client
-- order id is the id the broker sees.
CREATE TABLE live_orders (
    client_order_id TEXT    PRIMARY KEY,
    broker          TEXT    NOT NULL,
    broker_order_id TEXT,
    strategy        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    order_type      TEXT    NOT NULL,
    time_in_force   TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    limit_price     TEXT,
    stop_price      TEXT,
    status          TEXT    NOT NULL,
    filled_quantity TEXT    NOT NULL,
    avg_fill_price  TEXT,
    reject_reason   TEXT,
    trade_ids       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);

CREATE INDEX live_orders_status ON live_orders (status);

-- Every state change of every order, in the order it was stored.
CREATE TABLE live_order_events (
    id              BIGSERIAL PRIMARY KEY,
    client_order_id TEXT    NOT NULL REFERENCES live_orders (client_order_id) ON DELETE CASCADE,
    status          TEXT    NOT NULL,
    detail          TEXT,
    ts              BIGINT  NOT NULL
);

CREATE INDEX live_order_events_order ON live_order_events (client_order_id);

-- Executions; the broker's trade id makes a replayed fill a no-op.
CREATE TABLE live_fills (
    broker          TEXT    NOT NULL,
    trade_id        TEXT    NOT NULL,
    client_order_id TEXT    NOT NULL REFERENCES live_orders (client_order_id) ON DELETE CASCADE,
    strategy        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    price           TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    commission      TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    ts_event        BIGINT  NOT NULL,
    PRIMARY KEY (broker, trade_id)
);

CREATE INDEX live_fills_time ON live_fills (ts_event);

-- Net position and exact P&L per strategy and instrument, updated in the
-- same transaction as the fill that changed it.
CREATE TABLE live_positions (
    strategy        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    venue           TEXT    NOT NULL,
    quantity        TEXT    NOT NULL,
    avg_price       TEXT    NOT NULL,
    multiplier      TEXT    NOT NULL,
    realized_pnl    TEXT    NOT NULL,
    commissions     TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    last_price      TEXT,
    updated_at      BIGINT  NOT NULL,
    PRIMARY KEY (strategy, symbol, venue)
);

-- Small named state: the kill switch, the paper broker's book, halts.
CREATE TABLE live_state (
    key             TEXT    PRIMARY KEY,
    value           TEXT    NOT NULL,
    updated_at      BIGINT  NOT NULL
);

-- Account value history (pysystemtrade's capital_update), per account and
-- strategy ('' = the whole account).
CREATE TABLE account_history (
    id              BIGSERIAL PRIMARY KEY,
    account         TEXT    NOT NULL,
    strategy        TEXT    NOT NULL,
    ts              BIGINT  NOT NULL,
    currency        TEXT    NOT NULL,
    equity          TEXT    NOT NULL,
    cash            TEXT    NOT NULL,
    realized_pnl    TEXT    NOT NULL,
    unrealized_pnl  TEXT    NOT NULL
);

CREATE INDEX account_history_time ON account_history (account, strategy, ts);
