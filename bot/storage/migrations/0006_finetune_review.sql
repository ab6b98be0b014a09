-- 0006 fine-tune review: why: an instructor may require approval before a group's run starts,
-- and a group may train on one of the built-in example datasets instead of its own pool. A run
-- waiting for approval has status 'awaiting' (later 'running', or 'declined').

ALTER TABLE finetune_jobs ADD COLUMN example TEXT;           -- the example dataset's id, if any
ALTER TABLE finetune_jobs ADD COLUMN approved_by INTEGER;    -- the instructor who approved it
ALTER TABLE finetune_jobs ADD COLUMN decided_at TEXT;        -- when it was approved or declined
