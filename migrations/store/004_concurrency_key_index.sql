-- The jobs search by key (listJobs' key filter: the console's and `jobs list --key`) matches the
-- idempotency key, the concurrency key or the id. The first and the last are indexed (001_jobs.sql);
-- without this one the OR could only be answered by reading every row. Partial: only the rows holding
-- a key right now carry one (docs/keys.md), so the index stays small and most settles never touch it.
CREATE INDEX jobs_concurrency_key ON jobs (concurrency_key) WHERE concurrency_key IS NOT NULL;
