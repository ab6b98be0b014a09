-- 0007 drop case_posts: why: where a case was posted was recorded but never read (the Answer
-- buttons carry the case id themselves), so the table only kept who posted what, for nothing.
DROP TABLE case_posts;
