-- 0011 step-throughs: why: /step lets a group build a continuation one token at a time, each
-- token picked by a member or by a decoding method; the path is kept so that the message's
-- buttons go on working after a restart and the group can export which token was chosen by
-- whom, and with what probability.

CREATE TABLE step_throughs (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    group_id     INTEGER REFERENCES lab_groups (id) ON DELETE SET NULL,  -- NULL: the starter's
    started_by   INTEGER,                    -- NULL once they deleted their data
    prompt       TEXT    NOT NULL,
    model_label  TEXT    NOT NULL,           -- "Pre-trained", "Fine-tuned v2"
    adapter      TEXT,                       -- the runner's adapter id; NULL = pre-trained
    model        TEXT    NOT NULL,           -- the model the runner served at the start
    max_steps    INTEGER NOT NULL,           -- tokens it may add
    end_of_text  INTEGER,                    -- the model's end-of-text token id
    text         TEXT    NOT NULL DEFAULT '',    -- the tokens chosen so far, as text
    candidates   TEXT    NOT NULL DEFAULT '[]',  -- JSON: the next token's candidates shown
    ended        TEXT CHECK (ended IN ('end', 'eos', 'limit')),  -- NULL while it goes on
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX step_throughs_starter ON step_throughs (started_by);

CREATE TABLE step_tokens (
    step_through INTEGER NOT NULL REFERENCES step_throughs (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,           -- 1 = the first token after the prompt
    token_id     INTEGER NOT NULL,
    text         TEXT    NOT NULL,           -- what it decodes to
    display      TEXT    NOT NULL,           -- readable: ␣ for a leading space
    probability  REAL    NOT NULL,           -- the model's probability for it at that step
    chosen_by    TEXT    NOT NULL CHECK (chosen_by IN ('member', 'greedy', 'sampling',
                                                       'contrastive')),
    user_id      INTEGER,                    -- who picked it or pressed the method's button
    user_name    TEXT,                       -- their display name then; NULL once deleted
    reason       TEXT    NOT NULL DEFAULT '{}',  -- JSON: the method's pick (seed, scores...)
    chosen_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (step_through, position)
);
CREATE INDEX step_tokens_user ON step_tokens (user_id);
