-- The ingest claim (src/ingest/enqueue.ts): which of a flush's items are new, atomically.
-- An item is a duplicate if its item key says 'done' (src/delivery-marks.ts) or names a job that
-- still exists; otherwise the key now names the job planned for it, for ttlMs.
-- One call per flush whatever its size. Item keys travel as one space-separated argument and are
-- built here, not as KEYS: encoding a thousand arguments cost the API ~6 µs of CPU per item
-- (measured). KEYS[1], a key of the kind and lane, routes the call; every item key and every
-- queue of the kind and lane share its hash tag, so in a cluster they live in one slot
-- (src/queue-catalog.ts).
-- An item key names the job that carries the item as "<queue>/<jobId>" (any of the lane's
-- queues: the same id may come back with another class), or a bare job id of the legacy queue
-- (written by versions before issue 12).
-- The claimed items' bytes join the queue's byte counter here, a moment before their jobs are
-- added: a separate INCRBY once the adds were acknowledged cost single-event ingest ~5 µs of CPU
-- per request (about 15% of the enqueue path, measured). An add that fails after its claim
-- leaves the count high by that job until the queue is next seen empty, when it heals; the retry
-- counts it again (src/ingest/queued-bytes.ts).
--
-- KEYS[1] route        a key of the kind and lane (`…:meta`), in the slot of everything below
-- ARGV[1] itemKeyPrefix what comes before an item's key (`<legacy queue's job key prefix>id:`)
-- ARGV[2] legacyJobs   the legacy queue's job key prefix ("<bullPrefix>:<kind>.<lane>:")
-- ARGV[3] bullPrefix   the bull prefix of the kind and lane ("<prefix>:{<kind>.<lane>}")
-- ARGV[4] ttlMs        how long an item key is kept (ms, RELAY_DEDUP_TTL_S)
-- ARGV[5] items        the items' keys, space-separated
-- ARGV[6] jobRefs      per item, "<queue>/<jobId>" of the job planned for it, space-separated
-- ARGV[7] sizes        per item, its bytes (whole numbers), space-separated
-- ARGV[8] queueBytes   the byte counter of the queue the jobs go to (`<bullPrefix>:<queue>:qbytes`)
-- Returns, per item in order, 1 when claimed, 0 for a duplicate.
-- The mark a completed job's items get (src/item-keys.ts DONE; the workers write it, src/delivery-marks.ts).
local DONE = 'done'
local keyPrefix, legacyJobs, bp, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jobs = {}
for j in string.gmatch(ARGV[6], '%S+') do jobs[#jobs + 1] = j end
local sizes = {}
for n in string.gmatch(ARGV[7] or '', '%S+') do sizes[#sizes + 1] = tonumber(n) end
local function jobKey(v)
  local q, id = string.match(v, '^([^/]+)/(.+)$')
  if q then return bp .. ':' .. q .. ':' .. id end
  return legacyJobs .. v
end
local out, i, bytes = {}, 0, 0
for k in string.gmatch(ARGV[5], '%S+') do
  i = i + 1
  local key = keyPrefix .. k
  local v = redis.call('GET', key)
  if v == DONE or (v and redis.call('EXISTS', jobKey(v)) == 1) then
    out[i] = 0
  else
    redis.call('SET', key, jobs[i], 'PX', ttl)
    out[i] = 1
    bytes = bytes + (sizes[i] or 0)
  end
end
if bytes > 0 then redis.call('INCRBY', ARGV[8], bytes) end
return out
