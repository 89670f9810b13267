-- One row per refresh of a kept token, written before Notion is called, so
-- a refresh cut between Notion's answer (which rotates the pair) and the
-- commit is counted as possibly lost, never silent.
CREATE TABLE vault_refresh (
    id          TEXT   NOT NULL PRIMARY KEY,   -- bot_id:refresh-N
    bot_id      TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    status      TEXT   NOT NULL,               -- pending | committed | failed | lost
    finished_at BIGINT
);
CREATE INDEX vault_refresh_pending ON vault_refresh (status, started_at);
