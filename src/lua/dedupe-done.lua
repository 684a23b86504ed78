-- A completed job (workers/start.ts): its items are `done` in the dedupe memory, so a resend of
-- any of them stays a duplicate for the rest of the window once the job itself is pruned; and the
-- job keeps no payload.
--  - Its number in the generation's job table says `done` (items delivered by an earlier attempt,
--    no longer on the job, point there).
--  - Each item still on the job that points at that number gets an empty value instead: the
--    same meaning (src/lua/enqueue-claim.lua), 2 bytes smaller per item than the number.
--  - Its hash keeps `name`, `data` (what find, status and the dashboard read: src/job-data.ts
--    completedJobData) and the timestamps; BullMQ's options and return value go (BullMQ reads a
--    missing `opts` as none).
-- Neither key is created: a generation already expired, or a job already pruned, stays gone.
--
-- KEYS[1] jobTable    the job table of the job's generation (`<lane keys>dd:<generation>:j`)
-- KEYS[2] job         the job's hash (`<bullPrefix>:<queue>:<jobId>`)
-- ARGV[1] number      the job's number in that table
-- ARGV[2] data        the job's data from now on (JSON), or '' to leave it
-- ARGV[3] memoryPrefix the dedupe memory's key prefix (`<lane keys>dd:`)
-- ARGV[4] generation  the job's generation
-- ARGV[5] digests     its items' digests, DIGEST_BYTES bytes each, concatenated
-- Returns the number of items given an empty value.
local DONE = 'done'
local DIGEST_BYTES = 10
local n = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], DONE)
  local prefix = ARGV[3] .. ARGV[4]
  local v = redis.call('HMGET', prefix .. ':m', 'l', 's')
  local level, split = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  local m = 2 ^ level
  local digests = ARGV[5]
  for i = 1, #digests / DIGEST_BYTES do
    local d = string.sub(digests, (i - 1) * DIGEST_BYTES + 1, i * DIGEST_BYTES)
    local b1, b2, b3, b4 = string.byte(d, 1, 4)
    local h = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    local a = h % m
    if a < split then a = h % (m * 2) end
    local b = prefix .. ':b:' .. a
    if redis.call('HGET', b, d) == ARGV[1] then
      redis.call('HSET', b, d, '')
      n = n + 1
    end
  end
end
-- The hash is written anew: one that ever held a value over hash-max-listpack-value (the payload)
-- stays a hash table (about 840 bytes for a completed job, measured) until rebuilt; rebuilt with
-- small values only, it is a listpack again (about a quarter of that).
if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  local all = redis.call('HGETALL', KEYS[2])
  local keep = {}
  for i = 1, #all, 2 do
    local f = all[i]
    if f ~= 'data' and f ~= 'opts' and f ~= 'returnvalue' and f ~= 'stacktrace' and f ~= 'failedReason' then
      keep[#keep + 1] = f
      keep[#keep + 1] = all[i + 1]
    end
  end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'data', ARGV[2], unpack(keep))
end
return n
