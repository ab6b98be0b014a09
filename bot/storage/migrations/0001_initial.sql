-- 0001 initial: why: the foundation needs somewhere to remember per-server settings and what
-- set of application commands was last synced to Discord, so that restarts do not spend
-- Discord's daily quota of command creations.

CREATE TABLE guild_settings (
    guild_id    INTEGER PRIMARY KEY,
    settings    TEXT    NOT NULL DEFAULT '{}',  -- JSON object, keys owned by feature extensions
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE command_sync (
    scope       TEXT PRIMARY KEY,               -- 'global' or 'guild:<id>'
    digest      TEXT NOT NULL,                  -- sha256 of the command payloads last synced
    synced_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
