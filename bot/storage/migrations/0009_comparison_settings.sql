-- 0009 comparison settings: why: two runs of one prompt could not be told apart in a group's
-- table, because a row kept neither the number of new tokens asked for nor Random Sampling's
-- seed; and the lab asks for two fine-tune tables (a built-in example dataset, the group's own
-- sentences) where the rows were kept as one. Older rows have no settings (NULL); their
-- fine-tune rows take the example of the version they compared, where it is known.

ALTER TABLE comparisons ADD COLUMN max_tokens INTEGER;  -- new tokens asked for per column
ALTER TABLE comparisons ADD COLUMN seed INTEGER;        -- Random Sampling's seed; NULL = unused
ALTER TABLE comparisons ADD COLUMN example TEXT;        -- fine-tune rows: the built-in example
                                                        -- the fine-tuned column trained on
UPDATE comparisons SET example = (
    SELECT j.example FROM finetune_jobs j
    WHERE j.group_id = comparisons.group_id
      AND 'v' || j.version = json_extract(comparisons.columns, '$.version')
) WHERE kind = 'finetune';
