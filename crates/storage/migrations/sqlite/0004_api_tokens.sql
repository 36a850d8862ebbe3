-- API tokens for the HTTP API (`tessera tokens create`). Only a SHA-256 hash of
-- each token is stored; the token itself is shown once at creation. `prefix` is
-- the first characters of the token, kept to tell tokens apart in listings.
-- The PostgreSQL migration of the same number defines the same table and columns.

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    prefix          TEXT    NOT NULL,
    token_hash      TEXT    NOT NULL UNIQUE,
    scope           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    revoked_at      BIGINT
);
