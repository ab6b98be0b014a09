-- 0010 fine-tune results: why: a fine-tune now measures more than its training loss (held-out
-- sentences' loss per epoch, the loss on a general passage before and after, LoRA's share of
-- the weights), and the group's tables and /finetune models show it after the run. Runs from
-- before have none ('{}').

ALTER TABLE finetune_jobs ADD COLUMN results TEXT NOT NULL DEFAULT '{}';
