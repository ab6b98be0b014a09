-- 0002 groups and tables: why: the token-prediction lab is done in groups; each group keeps
-- the table of prompts it compared (decoding methods, or pre-trained vs fine-tuned).

CREATE TABLE lab_groups (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    role_id     INTEGER,                    -- set when the group is a Discord role
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (guild_id, name)
);
CREATE UNIQUE INDEX lab_groups_role ON lab_groups (guild_id, role_id) WHERE role_id IS NOT NULL;

CREATE TABLE group_members (                -- only for servers without group roles
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    group_id    INTEGER NOT NULL REFERENCES lab_groups (id) ON DELETE CASCADE,
    joined_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE comparisons (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    group_id    INTEGER REFERENCES lab_groups (id) ON DELETE SET NULL,
    user_id     INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('decoding', 'finetune')),
    prompt      TEXT    NOT NULL,
    columns     TEXT    NOT NULL,           -- JSON object: column name -> generated text
    model       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX comparisons_group ON comparisons (group_id, kind, id);
