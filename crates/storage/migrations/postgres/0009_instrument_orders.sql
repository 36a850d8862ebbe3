-- Netting (issue 7): the middle layer of the order stack. Strategy orders
-- (live_orders) of one event are netted per instrument; crossed pairs are
-- booked as fills of both strategy orders without a broker, and the rest
-- goes to the broker as ONE instrument order per instrument, whose client
-- order id is the one the broker sees. The allocation link says which
-- strategy orders an instrument order carries and how much of each, so its
-- fills roll back up. Everything here is written before the instrument order
-- is sent. Identical columns on SQLite and PostgreSQL; exact numbers are TEXT
-- decimals, times BIGINT nanoseconds since the Unix epoch (UTC).

-- One row per instrument order (same columns as live_orders, less the
-- strategy: an instrument order belongs to every strategy it carries).
CREATE TABLE live_instrument_orders (
    client_order_id TEXT    PRIMARY KEY,
    broker          TEXT    NOT NULL,
    broker_order_id TEXT,
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

CREATE INDEX live_instrument_orders_status ON live_instrument_orders (status);

-- The allocation link: instrument order -> strategy orders, in the order
-- fills are shared out (seq; first come first filled).
CREATE TABLE live_order_allocations (
    instrument_order_id TEXT   NOT NULL REFERENCES live_instrument_orders (client_order_id) ON DELETE CASCADE,
    seq                 BIGINT NOT NULL,
    strategy_order_id   TEXT   NOT NULL REFERENCES live_orders (client_order_id) ON DELETE CASCADE,
    quantity            TEXT   NOT NULL,
    filled_quantity     TEXT   NOT NULL,
    PRIMARY KEY (instrument_order_id, seq)
);

CREATE INDEX live_order_allocations_strategy ON live_order_allocations (strategy_order_id);

-- Broker executions of instrument orders; (broker, trade_id) makes a
-- replayed fill a no-op. The strategy fills derived from one are stored in
-- live_fills in the same transaction.
CREATE TABLE live_instrument_fills (
    broker              TEXT   NOT NULL,
    trade_id            TEXT   NOT NULL,
    instrument_order_id TEXT   NOT NULL REFERENCES live_instrument_orders (client_order_id) ON DELETE CASCADE,
    symbol              TEXT   NOT NULL,
    venue               TEXT   NOT NULL,
    side                TEXT   NOT NULL,
    price               TEXT   NOT NULL,
    quantity            TEXT   NOT NULL,
    commission          TEXT   NOT NULL,
    currency            TEXT   NOT NULL,
    ts_event            BIGINT NOT NULL,
    PRIMARY KEY (broker, trade_id)
);
