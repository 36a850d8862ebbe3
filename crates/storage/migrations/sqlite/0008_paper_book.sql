-- The paper broker's book, one row per fill and per working order
-- (before: one JSON value in live_state that grew with every fill and was
-- rewritten whole after each change).
CREATE TABLE paper_fills (
    account TEXT NOT NULL,
    seq BIGINT NOT NULL,
    client_order_id TEXT NOT NULL,
    ts_event BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, seq)
);

CREATE TABLE paper_orders (
    account TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (account, client_order_id)
);
