-- Plugin key-value storage (wasi:keyvalue): one namespace per plugin, any
-- number of buckets in it.
CREATE TABLE plugin_kv (
    plugin     TEXT    NOT NULL,
    bucket     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    value      BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, bucket, key)
) WITHOUT ROWID;
