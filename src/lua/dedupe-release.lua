-- An erasure cancelled items of a job not yet delivered (src/privacy/purge-jobs.ts): their digests
-- leave the dedupe memory (src/dedupe-memory.ts), so a resend after the erasure is new data, not a
-- duplicate of what was cancelled. Compare-and-delete: a digest naming another job is left alone.
-- The generation's item count (`n`) drops by as many (it paces bucket splits).
--
-- KEYS[1] jobTable    the job table of the job's generation (`<lane keys>dd:<generation>:j`), for its slot
-- ARGV[1] memoryPrefix the dedupe memory's key prefix (`<lane keys>dd:`)
-- ARGV[2] generation  the job's generation
-- ARGV[3] number      the job's number in that generation's job table
-- ARGV[4] digests     the cancelled items' digests, DIGEST_BYTES bytes each, concatenated
-- Returns the number of digests removed.
local DIGEST_BYTES = 10
local prefix = ARGV[1] .. ARGV[2]
local v = redis.call('HMGET', prefix .. ':m', 'l', 's')
local level, split = tonumber(v[1]) or 0, tonumber(v[2]) or 0
local m = 2 ^ level
local digests = ARGV[4]
local n = 0
for i = 1, #digests / DIGEST_BYTES do
  local d = string.sub(digests, (i - 1) * DIGEST_BYTES + 1, i * DIGEST_BYTES)
  local b1, b2, b3, b4 = string.byte(d, 1, 4)
  local h = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  local a = h % m
  if a < split then a = h % (m * 2) end
  local b = prefix .. ':b:' .. a
  if redis.call('HGET', b, d) == ARGV[3] then
    redis.call('HDEL', b, d)
    n = n + 1
  end
end
if n > 0 and redis.call('EXISTS', prefix .. ':m') == 1 then redis.call('HINCRBY', prefix .. ':m', 'n', -n) end
return n
