-- A completed job (workers/start.ts, src/delivery-marks.ts): its number in the dedupe memory's job
-- table says `done`, so a resend of any of its items stays a duplicate for the rest of the window
-- once the job itself is pruned; and the job keeps no payload (`data` becomes what the ops API,
-- find and dead letters read of a completed job: src/job-data.ts completedJobData).
-- Neither key is created: a generation already expired, or a job already pruned, stays gone.
--
-- KEYS[1] jobTable    the job table of the job's generation (`<lane keys>dd:<generation>:j`)
-- KEYS[2] job         the job's hash (`<bullPrefix>:<queue>:<jobId>`)
-- ARGV[1] number      the job's number in that table
-- ARGV[2] data        the job's data from now on (JSON), or '' to leave it
-- Returns 0.
local DONE = 'done'
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], DONE) end
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'data', ARGV[2]) end
return 0
