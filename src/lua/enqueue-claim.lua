-- The ingest claim (src/ingest/enqueue.ts): which of a flush's items are new, atomically, in the
-- compact dedupe memory (src/dedupe-memory.ts explains the layout and its sizes).
-- An item is a duplicate if the memory holds its digest, within the window, for a job that is
-- `done` or still exists; otherwise its digest now names the job planned for it.
-- Memory: generations of `windowMs / GENERATIONS` ms (the Redis server's clock); an item is looked
-- up in the current generation and the GENERATIONS before it, and written into the current one,
-- so it is remembered for at least the window and at most a generation longer. A generation is
-- a linear-hashing table of hashes ("buckets"), each a few dozen digests: small enough to stay
-- listpack-encoded (hash-max-listpack-entries, 128 by default), so a digest costs its bytes and a
-- few more, not a key each. Its job table numbers the jobs its items went to (one entry per job,
-- not per item): `done` once the job completed, when its items' values become empty
-- (src/lua/dedupe-done.lua).
-- Item keys of the format before issue 18 (one key per item, `…:id:<item key>`) are read too while
-- any may be left: until a window after this format was first written (`dd:since`).
-- One call per flush; every key below carries the kind and lane's hash tag (one cluster slot).
-- The claimed items' bytes join the queue's byte counter here, a moment before their jobs are
-- added (src/ingest/queued-bytes.ts).
--
-- KEYS[1] route          a key of the kind and lane (`…:meta`), in the slot of everything below
-- ARGV[1] memoryPrefix   the dedupe memory's key prefix (`<lane keys>dd:`)
-- ARGV[2] itemKeyPrefix  what comes before a legacy item key (`<lane keys>id:`)
-- ARGV[3] legacyJobs     the legacy queue's job key prefix ("<bullPrefix>:<kind>.<lane>:")
-- ARGV[4] bullPrefix     the bull prefix of the kind and lane ("<prefix>:{<kind>.<lane>}")
-- ARGV[5] windowMs       how long an item is remembered at least (ms, RELAY_DEDUP_TTL_S)
-- ARGV[6] items          the items' keys, space-separated (for legacy item keys)
-- ARGV[7] digests        the items' digests, DIGEST_BYTES bytes each, concatenated, in the same order
-- ARGV[8] jobRefs        per planned job, "<queue>/<jobId>", space-separated
-- ARGV[9] perJob         items per planned job: item i (from 0) goes to job floor(i / perJob)
-- ARGV[10] sizes         per item, its bytes (whole numbers), space-separated
-- ARGV[11] queueBytes    the byte counter of the queue the jobs go to (`<bullPrefix>:<queue>:qbytes`)
-- Returns { per item 1 (claimed) or 0 (duplicate), per planned job "<generation>:<number>" or '' when none of its items was claimed }.
local DONE = 'done'
local DIGEST_BYTES = 10
local GENERATIONS = 1
local BUCKET_LOAD = 40

local mp, keyPrefix, legacyJobs, bp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local window = tonumber(ARGV[5])
local digests, perJob = ARGV[7], tonumber(ARGV[9])
local genMs = math.ceil(window / GENERATIONS)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gen = math.floor(now / genMs)

local jobs = {}
for j in string.gmatch(ARGV[8], '%S+') do jobs[#jobs + 1] = j end
local sizes = {}
for n in string.gmatch(ARGV[10] or '', '%S+') do sizes[#sizes + 1] = tonumber(n) end

local function jobKey(v)
  local q, id = string.match(v, '^([^/]+)/(.+)$')
  if q then return bp .. ':' .. q .. ':' .. id end
  return legacyJobs .. v
end

-- Linear hashing: a generation has 2^level + split buckets; a digest's address is its first four
-- bytes modulo 2^level, or 2^(level+1) for the buckets already split this round.
local function hash32(d)
  local b1, b2, b3, b4 = string.byte(d, 1, 4)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end
local tables = {}
local function table_of(g)
  local tb = tables[g]
  if tb then return tb end
  local meta = mp .. g .. ':m'
  local v = redis.call('HMGET', meta, 'n', 'l', 's')
  tb = { g = g, meta = meta, n = tonumber(v[1]) or 0, level = tonumber(v[2]) or 0, split = tonumber(v[3]) or 0, jobs = mp .. g .. ':j', dirty = false }
  tables[g] = tb
  return tb
end
local function bucket_of(tb, h)
  local m = 2 ^ tb.level
  local a = h % m
  if a < tb.split then a = h % (m * 2) end
  return mp .. tb.g .. ':b:' .. a
end
-- Each key of a generation expires once no lookup can reach it.
local expireAt = (gen + GENERATIONS + 1) * genMs + 60000
local function split_one(tb)
  local m = 2 ^ tb.level
  local from = mp .. tb.g .. ':b:' .. tb.split
  local to = mp .. tb.g .. ':b:' .. (tb.split + m)
  local all = redis.call('HGETALL', from)
  local moved = {}
  for i = 1, #all, 2 do
    if hash32(all[i]) % (m * 2) ~= tb.split then
      moved[#moved + 1] = all[i]
      redis.call('HSET', to, all[i], all[i + 1])
    end
  end
  if #moved > 0 then
    redis.call('HDEL', from, unpack(moved))
    redis.call('PEXPIREAT', to, expireAt)
  end
  tb.split = tb.split + 1
  if tb.split == m then
    tb.level = tb.level + 1
    tb.split = 0
  end
end

-- Job numbers of this generation's job table, taken for a planned job at its first claimed item.
local cur = table_of(gen)
local numbered = {}
local function job_number(c)
  local j = numbered[c]
  if j then return j end
  j = redis.call('HINCRBY', cur.meta, 'j', 1)
  redis.call('HSET', cur.jobs, j, jobs[c])
  numbered[c] = j
  return j
end

-- Legacy item keys: read until a window after this memory was first written.
local sinceKey = mp .. 'since'
local since = tonumber(redis.call('GET', sinceKey))
if not since then
  since = now
  redis.call('SET', sinceKey, now)
end
local legacy = now < since + window

local out, i, bytes = {}, 0, 0
for k in string.gmatch(ARGV[6], '%S+') do
  i = i + 1
  local d = string.sub(digests, (i - 1) * DIGEST_BYTES + 1, i * DIGEST_BYTES)
  local h = hash32(d)
  local dup = false
  local stale, staleTb -- the bucket (and its generation) holding the digest for a job that no longer exists
  for back = 0, GENERATIONS do
    local tb = table_of(gen - back)
    if back == 0 or tb.n > 0 then
      local b = bucket_of(tb, h)
      local j = redis.call('HGET', b, d)
      if j then
        -- An empty value: its job completed (src/lua/dedupe-done.lua).
        local v = j == '' and DONE or redis.call('HGET', tb.jobs, j)
        if v == DONE or (v and redis.call('EXISTS', jobKey(v)) == 1) then dup = true else stale, staleTb = b, tb end
        break
      end
    end
  end
  if not dup and not stale and legacy then
    local v = redis.call('GET', keyPrefix .. k)
    if v == DONE or (v and redis.call('EXISTS', jobKey(v)) == 1) then dup = true end
  end
  if dup then
    out[i] = 0
  else
    if stale then
      local removed = redis.call('HDEL', stale, d)
      if staleTb == cur then cur.n = cur.n - removed end
    end
    local c = math.floor((i - 1) / perJob) + 1
    local b = bucket_of(cur, h)
    cur.n = cur.n + redis.call('HSET', b, d, job_number(c))
    if cur.n == 1 then
      redis.call('PEXPIREAT', b, expireAt)
    end
    while cur.n > BUCKET_LOAD * (2 ^ cur.level + cur.split) do split_one(cur) end
    cur.dirty = true
    out[i] = 1
    bytes = bytes + (sizes[i] or 0)
  end
end
if cur.dirty then
  redis.call('HSET', cur.meta, 'n', cur.n, 'l', cur.level, 's', cur.split)
  redis.call('PEXPIREAT', cur.meta, expireAt)
  redis.call('PEXPIREAT', cur.jobs, expireAt)
end
if bytes > 0 then redis.call('INCRBY', ARGV[11], bytes) end
local numbers = {}
for c = 1, #jobs do numbers[c] = numbered[c] and (gen .. ':' .. numbered[c]) or '' end
return { out, numbers }
