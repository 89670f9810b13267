-- See the PostgreSQL migration of the same name.
CREATE TABLE vault_flow_minute (
    minute  INTEGER NOT NULL,
    outcome TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (minute, outcome)
);
ALTER TABLE vault_connection ADD COLUMN owner_email TEXT;
