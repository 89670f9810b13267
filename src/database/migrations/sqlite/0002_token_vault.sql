-- The token vault (see src/vault). Times are milliseconds since the Unix epoch.

-- One row per code exchange, written before Notion is called, so a crash
-- between Notion's answer and the outbox commit leaves evidence.
CREATE TABLE vault_exchange (
    exchange_id TEXT    NOT NULL PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    status      TEXT    NOT NULL,          -- pending | committed | failed | lost
    finished_at INTEGER
);
CREATE INDEX vault_exchange_pending ON vault_exchange (status, started_at);

-- Deliveries to the consumer, at least once. `id` is the idempotency key.
CREATE TABLE vault_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    bot_id          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,      -- new | refreshed | revoked
    token           BLOB,                  -- sealed; NULL once delivered
    state           TEXT    NOT NULL,      -- the flow's state info (JSON, no secrets)
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    status          TEXT    NOT NULL,      -- pending | delivered | dead
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER
);
CREATE INDEX vault_outbox_due ON vault_outbox (status, next_attempt_at);

-- One row per authorization (bot id), in vault mode.
CREATE TABLE vault_connection (
    bot_id         TEXT    NOT NULL PRIMARY KEY,
    workspace_id   TEXT    NOT NULL,
    workspace_name TEXT,
    owner_user_id  TEXT,
    token          BLOB,                   -- sealed; NULL once revoked
    version        INTEGER NOT NULL,       -- +1 for every new token pair
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,       -- when the current pair arrived
    revoked_at     INTEGER,
    lease_owner    TEXT,
    lease_until    INTEGER
);
