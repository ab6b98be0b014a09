-- 0012 class votes: why: the instructor puts one prompt's four decoding methods to a blind
-- vote of the whole class (Task 3's "which method was the most coherent?"); a vote keeps the
-- shuffled order everyone saw, each student's one ballot, and the tally frozen at closing.

CREATE TABLE class_votes (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    number      INTEGER NOT NULL,           -- 1, 2, ... per server
    prompt      TEXT    NOT NULL,
    outputs     TEXT    NOT NULL,           -- JSON object: method -> its continuation
    letters     TEXT    NOT NULL,           -- JSON list: the method shown as A, B, C, D
    model       TEXT    NOT NULL,
    max_tokens  INTEGER NOT NULL,
    seed        INTEGER,                    -- Random Sampling's seed
    source      TEXT    NOT NULL DEFAULT '',-- e.g. "Group 1's table, row 3"; '' = run for the vote
    status      TEXT    NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    tally       TEXT    NOT NULL DEFAULT '{}', -- JSON object: method -> votes, once closed
    channel_id  INTEGER NOT NULL,
    message_id  INTEGER,                    -- the vote's message with its buttons
    opened_by   INTEGER,
    closed_by   INTEGER,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    closed_at   TEXT,
    UNIQUE (guild_id, number)
);
CREATE INDEX class_votes_status ON class_votes (guild_id, status, number);

CREATE TABLE vote_ballots (                 -- one per student and vote; pressing again moves it
    vote_id     INTEGER NOT NULL REFERENCES class_votes (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    letter      TEXT    NOT NULL CHECK (letter IN ('A', 'B', 'C', 'D')),
    cast_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    changed_at  TEXT,
    PRIMARY KEY (vote_id, user_id)
);
CREATE INDEX vote_ballots_user ON vote_ballots (user_id);
