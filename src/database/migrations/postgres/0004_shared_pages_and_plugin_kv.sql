-- What a flow needs on whichever instance its next request lands.
--
-- A callback's result page, kept until its browser fetches it at the clean
-- URL (once, within two minutes). The page can hold names and emails, so it
-- is sealed like a token, bound to its row; the id is a bearer credential,
-- so only its SHA-256 is kept, and the owner is the SHA-256 of the binding
-- cookie of the browser that made the callback.
CREATE TABLE vault_result_page (
    id_hash    TEXT   NOT NULL PRIMARY KEY,   -- hex SHA-256 of the page id
    owner      TEXT   NOT NULL,               -- hex SHA-256 of the binding cookie
    page       BYTEA  NOT NULL,               -- sealed
    expires_at BIGINT NOT NULL                -- Unix ms
);
CREATE INDEX vault_result_page_expiry ON vault_result_page (expires_at);

-- Plugin key-value data: one namespace per plugin, shared by every instance.
CREATE TABLE plugin_kv (
    plugin     TEXT   NOT NULL,
    bucket     TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, bucket, key)
);
