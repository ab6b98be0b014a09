-- 0008 answer author names: why: the instructor's history export named each answer's author by
-- a numeric Discord id only, which nobody can read; each revision now keeps the author's display
-- name as it was when the answer was saved. Older revisions have none (the export shows the id).

ALTER TABLE answer_revisions ADD COLUMN author_name TEXT;   -- NULL once the author asked for deletion
