-- See the PostgreSQL migration of the same name.
ALTER TABLE vault_exchange ADD COLUMN reason TEXT;
ALTER TABLE vault_refresh ADD COLUMN reason TEXT;
