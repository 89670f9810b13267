-- One row per open connect session: a start link the app asked the token
-- API for, good for one flow within its ten minutes. The id is a bearer
-- credential, so only its SHA-256 is kept; taking a session deletes it.
CREATE TABLE vault_connect_session (
    id_hash    TEXT   NOT NULL PRIMARY KEY,   -- hex SHA-256 of the session id
    app_data   TEXT   NOT NULL,
    expires_at INTEGER NOT NULL                -- Unix ms
);
CREATE INDEX vault_connect_session_expiry ON vault_connect_session (expires_at);
