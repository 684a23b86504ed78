-- Reads a queue's byte counter, and resets it when the queue is empty now, was empty at the
-- previous read, and the counter has not moved since (src/ingest/queued-bytes.ts,
-- healQueueBytes): a release still on its way is not erased under a job that has just arrived.
--
-- KEYS[1] counter      the queue's byte counter
-- KEYS[2] wait         the queue's lists: waiting,
-- KEYS[3] paused       paused
-- KEYS[4] active       and active jobs;
-- KEYS[5] prioritized  its sorted sets: prioritized,
-- KEYS[6] delayed      delayed
-- KEYS[7] waitingChildren and waiting-children jobs
-- ARGV[1] emptyAt      the value the previous read saw with the queue empty ('' if it was not)
-- Returns {bytes, 1 if the queue is empty, else 0}.
local v = redis.call('GET', KEYS[1])
if not v then return {0, 1} end
for i = 2, 4 do if redis.call('LLEN', KEYS[i]) > 0 then return {tonumber(v), 0} end end
for i = 5, 7 do if redis.call('ZCARD', KEYS[i]) > 0 then return {tonumber(v), 0} end end
if ARGV[1] == v then
  redis.call('DEL', KEYS[1])
  return {0, 1}
end
return {tonumber(v), 1}
