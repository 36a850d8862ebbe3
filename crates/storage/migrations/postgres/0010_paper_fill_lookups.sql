-- The paper broker keeps only recent fills in memory (issue 7): older ones
-- are read back from paper_fills by order (duplicate client order ids,
-- lookup of finished orders) and by time (fills_since at recovery). Without
-- these indexes each of those reads would scan the account's whole history.
CREATE INDEX paper_fills_order ON paper_fills (account, client_order_id);
CREATE INDEX paper_fills_time ON paper_fills (account, ts_event);
