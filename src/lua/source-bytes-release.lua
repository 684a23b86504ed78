-- Releases a job from a source's queued-bytes ledger (src/ingest/queued-bytes.ts), if the ledger
-- still holds it: whoever releases first — a worker or the pruner — releases it, once. A total
-- that would go below 0 was changed behind the ledger's back: it is recomputed from the ledger.
--
-- KEYS[1] total        the source's queued bytes
-- KEYS[2] ledger       the source's ledger (hash: job key → bytes)
-- ARGV[1] job          the job's key
-- Returns the bytes released (0 when the ledger did not hold it).
local b = redis.call('HGET', KEYS[2], ARGV[1])
if not b then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return tonumber(b)
end
if redis.call('DECRBY', KEYS[1], b) < 0 then
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do sum = sum + tonumber(v) end
  redis.call('SET', KEYS[1], sum)
end
return tonumber(b)
