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
-- Per new item, one command in the common case: HSETNX writes the digest into the current
-- generation unless it is there already (then HGET reads what it names); the older generation
-- (and legacy keys) are read only after, and a duplicate found there takes the new entry back.
-- HGET-then-HSET, and bucket names built from numbers each time, cost the 1,000-event bench about
-- a sixth of the claim's Redis CPU (issue 18, measured).
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
-- ARGV[10] sizes         the items' bytes in runs, space-separated: `<bytes>*<items>` is that many
--                        items of that size each, in order (the items of a request share its bytes)
-- ARGV[11] queueBytes    the byte counter of the queue the jobs go to (`<bullPrefix>:<queue>:qbytes`)
-- Returns { one character per item, in order: "1" claimed or "0" duplicate; per planned job "<generation>:<number>" or '' when none of its items was claimed }.
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
for size, count in string.gmatch(ARGV[10], '(%d+)%*(%d+)') do
  size = tonumber(size)
  for _ = 1, tonumber(count) do sizes[#sizes + 1] = size end
end

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
  -- `bp`: the prefix of its buckets' names, built once; `m`: 2^level. Lua turns a number into text
  -- with a floating-point printf (its costliest step per item in a profile of the claim), so names
  -- are built with string.format('%d') (the same digits for these whole numbers) and only once each.
  local level = tonumber(v[2]) or 0
  tb = { g = g, meta = meta, n = tonumber(v[1]) or 0, level = level, m = 2 ^ level, split = tonumber(v[3]) or 0, jobs = mp .. g .. ':j', bp = mp .. g .. ':b:', dirty = false }
  tables[g] = tb
  return tb
end
local function bucket_of(tb, h)
  local a = h % tb.m
  if a < tb.split then a = h % (tb.m * 2) end
  return tb.bp .. string.format('%d', a)
end
-- Each key of a generation expires once no lookup can reach it.
local expireAt = (gen + GENERATIONS + 1) * genMs + 60000
local function split_one(tb)
  local m = tb.m
  local from = tb.bp .. string.format('%d', tb.split)
  local to = tb.bp .. string.format('%d', tb.split + m)
  local all = redis.call('HGETALL', from)
  local moved, pairs = {}, {}
  for i = 1, #all, 2 do
    if hash32(all[i]) % (m * 2) ~= tb.split then
      moved[#moved + 1] = all[i]
      pairs[#pairs + 1] = all[i]
      pairs[#pairs + 1] = all[i + 1]
    end
  end
  if #moved > 0 then
    redis.call('HSET', to, unpack(pairs))
    redis.call('HDEL', from, unpack(moved))
    redis.call('PEXPIREAT', to, expireAt)
  end
  tb.split = tb.split + 1
  if tb.split == m then
    tb.level = tb.level + 1
    tb.m = m * 2
    tb.split = 0
  end
end

-- Job numbers of this generation's job table, one per planned job, taken at its first item (the
-- digest is written with it); a job none of whose items was claimed gives its entry back.
local cur = table_of(gen)
local numbered, kept = {}, {}
local function job_number(c)
  local j = numbered[c]
  if j then return j end
  -- As text: a number argument is turned into text again by every command it is passed to.
  j = string.format('%d', redis.call('HINCRBY', cur.meta, 'j', 1))
  redis.call('HSET', cur.jobs, j, jobs[c])
  numbered[c] = j
  return j
end
-- Whether a value the memory holds for a digest (a job number, or empty once it completed) stands for a live item.
local function alive(tb, j)
  if j == '' then return true end
  local v = redis.call('HGET', tb.jobs, j)
  return v == DONE or (v and redis.call('EXISTS', jobKey(v)) == 1)
end

-- Legacy item keys: read until a window after this memory was first written.
local sinceKey = mp .. 'since'
local since = tonumber(redis.call('GET', sinceKey))
if not since then
  since = now
  redis.call('SET', sinceKey, now)
end
local legacy = now < since + window
local nextKey = string.gmatch(ARGV[6], '%S+')

local out, bytes = {}, 0
for i = 1, math.floor(#digests / DIGEST_BYTES) do
  local k = legacy and nextKey()
  local d = string.sub(digests, (i - 1) * DIGEST_BYTES + 1, i * DIGEST_BYTES)
  local h = hash32(d)
  local c = math.floor((i - 1) / perJob) + 1
  local j = job_number(c)
  local b = bucket_of(cur, h)
  local dup = false
  -- One command for the common case, a new item: written into the current generation if it is not there yet.
  if redis.call('HSETNX', b, d, j) == 1 then
    cur.n = cur.n + 1
    local found = false
    for back = 1, GENERATIONS do
      local tb = table_of(gen - back)
      if tb.n > 0 then
        local ob = bucket_of(tb, h)
        local oj = redis.call('HGET', ob, d)
        if oj then
          found = true
          -- A job that no longer exists: the older entry goes, the new one stays.
          if alive(tb, oj) then dup = true else redis.call('HDEL', ob, d) end
          break
        end
      end
    end
    if not found and legacy then
      local v = redis.call('GET', keyPrefix .. k)
      if v == DONE or (v and redis.call('EXISTS', jobKey(v)) == 1) then dup = true end
    end
    if dup then
      redis.call('HDEL', b, d)
      cur.n = cur.n - 1
    end
  elseif alive(cur, redis.call('HGET', b, d)) then
    dup = true
  else
    -- In the current generation for a job that no longer exists: it names this one now.
    redis.call('HSET', b, d, j)
  end
  if dup then
    out[i] = '0'
  else
    if cur.n == 1 then
      redis.call('PEXPIREAT', b, expireAt)
    end
    while cur.n > BUCKET_LOAD * (cur.m + cur.split) do split_one(cur) end
    cur.dirty = true
    kept[c] = true
    out[i] = '1'
    bytes = bytes + (sizes[i] or 0)
  end
end
-- Also when nothing was claimed but job numbers were taken: the counter (and job table) expire too.
if cur.dirty or next(numbered) ~= nil then
  redis.call('HSET', cur.meta, 'n', cur.n, 'l', cur.level, 's', cur.split)
  redis.call('PEXPIREAT', cur.meta, expireAt)
  redis.call('PEXPIREAT', cur.jobs, expireAt)
end
if bytes > 0 then redis.call('INCRBY', ARGV[11], bytes) end
local numbers = {}
for c = 1, #jobs do
  if kept[c] then
    numbers[c] = gen .. ':' .. numbered[c]
  else
    if numbered[c] then redis.call('HDEL', cur.jobs, numbered[c]) end
    numbers[c] = ''
  end
end
return { table.concat(out), numbers }
