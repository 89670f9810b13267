-- Why an exchange or a refresh ended failed or lost, in words an operator
-- reads in the admin console (never a secret: Notion's error line, or what
-- the sweep concluded). Rows from before this migration have none.
ALTER TABLE vault_exchange ADD COLUMN reason TEXT;
ALTER TABLE vault_refresh ADD COLUMN reason TEXT;
