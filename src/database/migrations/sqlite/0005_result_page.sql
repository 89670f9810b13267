-- A callback's result page, kept until its browser fetches it at the clean
-- URL (once, within two minutes). A single instance keeps these in memory;
-- the table is here so the store's statements are the same on both
-- backends. See the PostgreSQL migration for the columns.
CREATE TABLE vault_result_page (
    id_hash    TEXT    NOT NULL PRIMARY KEY,
    owner      TEXT    NOT NULL,
    page       BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX vault_result_page_expiry ON vault_result_page (expires_at);
