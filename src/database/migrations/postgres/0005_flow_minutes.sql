-- How flows ended, per minute, for the admin console's overview and chart:
-- every instance adds its counts, so the figures cover them all and
-- survive restarts. Rows older than two days are deleted as counts arrive.
CREATE TABLE vault_flow_minute (
    minute  BIGINT NOT NULL,   -- Unix ms at the start of the minute
    outcome TEXT   NOT NULL,   -- completed | denied | failed
    count   BIGINT NOT NULL,
    PRIMARY KEY (minute, outcome)
);
-- The owner's email, so the console can search connections by it.
ALTER TABLE vault_connection ADD COLUMN owner_email TEXT;
