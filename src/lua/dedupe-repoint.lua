-- A replayed dead letter moved to another queue (src/ops/dead-letters.ts): its number in the dedupe
-- memory's job table now names the job it became, so a resend of one of its items is still a
-- duplicate. Compare-and-set: a number naming anything else is left alone.
--
-- KEYS[1] jobTable    the job table of the job's generation (`<lane keys>dd:<generation>:j`)
-- ARGV[1] number      the job's number in that table
-- ARGV[2] from        the old job's ref ("<queue>/<jobId>")
-- ARGV[3] to          the new job's ref
-- Returns 1 when re-pointed, else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
