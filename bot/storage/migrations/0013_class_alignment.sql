-- 0013 class alignment: why: the class's closed votes become preference pairs, and an
-- instructor aligns the model on them (DPO, the lecture's RLHF stage); a run outlives the
-- interaction that started it, so its record says on which pairs, with which settings,
-- where its progress message is, and how it ended (with the preference it measured).

CREATE TABLE alignment_runs (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    version     INTEGER NOT NULL,           -- 1, 2, ... per server
    adapter     TEXT    NOT NULL UNIQUE,    -- the runner's adapter id
    status      TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    started_by  INTEGER,
    votes       TEXT    NOT NULL,           -- JSON list: the numbers of the votes it learned
    pairs       TEXT    NOT NULL,           -- JSON list: exactly the pairs it trained on
    params      TEXT    NOT NULL,           -- JSON object
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER,                    -- the progress message
    error       TEXT    NOT NULL DEFAULT '',
    results     TEXT    NOT NULL DEFAULT '{}', -- JSON: losses and the measured preference
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    UNIQUE (guild_id, version)
);
CREATE INDEX alignment_runs_status ON alignment_runs (guild_id, status);
