-- Takes a finished job's bytes off its queue's counter (src/ingest/queued-bytes.ts). Never below
-- 0: a decrement past it deletes the key.
--
-- KEYS[1] counter      the queue's byte counter (`<bullPrefix>:<queue>:qbytes`)
-- ARGV[1] bytes        the job's bytes
-- Returns the bytes left.
local left = redis.call('DECRBY', KEYS[1], ARGV[1])
if left <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return left
