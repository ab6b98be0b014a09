-- 0004 sentence pools: why: each group pools 20-30 sentences that share a topic, style or
-- pattern before fine-tuning; each sentence keeps its author, and a group cannot add the
-- same sentence twice.

CREATE TABLE pool_sentences (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    group_id    INTEGER NOT NULL REFERENCES lab_groups (id) ON DELETE CASCADE,
    author_id   INTEGER,                    -- NULL once the author asked for deletion
    text        TEXT    NOT NULL,
    added_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (group_id, text)
);
CREATE INDEX pool_sentences_group ON pool_sentences (group_id, id);
