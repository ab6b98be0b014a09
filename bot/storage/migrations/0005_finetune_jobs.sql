-- 0005 fine-tune jobs: why: a group's fine-tune outlives a Discord interaction and maybe the
-- bot process; the record says who started it, on which sentences, with which settings,
-- where its progress message is, and how it ended.

CREATE TABLE finetune_jobs (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    group_id    INTEGER NOT NULL REFERENCES lab_groups (id),
    version     INTEGER NOT NULL,           -- 1, 2, ... per group
    adapter     TEXT    NOT NULL UNIQUE,    -- the runner's adapter id
    status      TEXT    NOT NULL,           -- running, done, failed, cancelled
    started_by  INTEGER,
    sentences   TEXT    NOT NULL,           -- JSON list: exactly what it trained on
    params      TEXT    NOT NULL,           -- JSON object
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER,                    -- the progress message
    error       TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    UNIQUE (group_id, version)
);
