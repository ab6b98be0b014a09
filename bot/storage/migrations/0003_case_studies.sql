-- 0003 case studies: why: groups answer the ethics case studies as coursework; every edit
-- of an answer is kept as a revision with its author, so no answer is ever lost, and a
-- member's personal data can be removed while the group's answers survive.

CREATE TABLE server_cases (                 -- cases an instructor created with /case create
    guild_id    INTEGER NOT NULL,
    case_id     TEXT    NOT NULL,
    content     TEXT    NOT NULL,           -- JSON: title, summary, body, sources, questions
    created_by  INTEGER,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, case_id)
);

CREATE TABLE case_state (                   -- per server: answering closed, answers revealed
    guild_id    INTEGER NOT NULL,
    case_id     TEXT    NOT NULL,
    closed      INTEGER NOT NULL DEFAULT 0,
    revealed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, case_id)
);

CREATE TABLE case_posts (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    case_id     TEXT    NOT NULL,
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    thread_id   INTEGER,
    posted_by   INTEGER,
    posted_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE group_cases (                  -- the case each group chose
    guild_id    INTEGER NOT NULL,
    group_id    INTEGER NOT NULL REFERENCES lab_groups (id) ON DELETE CASCADE,
    case_id     TEXT    NOT NULL,
    chosen_by   INTEGER,
    chosen_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (guild_id, group_id)
);

CREATE TABLE answers (                      -- one per group per question of a case
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    case_id     TEXT    NOT NULL,
    group_id    INTEGER NOT NULL REFERENCES lab_groups (id),
    question    INTEGER NOT NULL,           -- 1-based
    UNIQUE (guild_id, case_id, group_id, question)
);

CREATE TABLE answer_revisions (             -- every edit; the newest is the answer
    id          INTEGER PRIMARY KEY,
    answer_id   INTEGER NOT NULL REFERENCES answers (id),
    author_id   INTEGER,                    -- NULL once the author asked for deletion
    text        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX answer_revisions_answer ON answer_revisions (answer_id, id);
CREATE INDEX answer_revisions_author ON answer_revisions (author_id);
