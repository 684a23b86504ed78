-- The quota governor's take (src/quota/governor.ts): may a call to an endpoint go now, and if
-- so take a token from every bucket it is subject to, atomically.
-- Blocks first: while any block key lives (a 429's Retry-After, `RateLimit-Remaining: 0`), the
-- answer is its remaining time. Then per bucket, a sliding log of grants (a sorted set of send
-- times) and the classes' rules: bulk yields a bucket live waits for unless bulk is below its
-- minimum share; live leaves bulk its minimum while bulk waits (see the governor's comment).
-- A waiter registers only on the buckets that hold it (within WANT_SLACK_MS of its longest wait).
-- The gateway's bucket, shared by every lane (Klaviyo account) of a key, is also granted in a fair
-- order (issue 19): start-time fair queueing by lane weight among the waiting lanes of the same
-- class. A lane's start tag is max(V, its finish tag); the waiting lane with the smallest tag goes
-- next, and each grant moves the lane's finish tag on by 1/weight and V to the granted start tag.
-- A lane that is not first is told when the slot that will be its own frees (its rank among the
-- waiting lanes, counted along the log's expiries), so waiters sleep until their turn, not poll.
-- The fair bucket's grants are also paced, one per window/limit per class (`~T<cls>` in the tags
-- hash: the class's next grant's theoretical time, GCRA with one slot of tolerance): without it
-- the sliding log keeps replaying its first burst — 10 slots freeing in the same millisecond, taken
-- by whoever asks first — and the order could only ever apply to the first of them. A class is
-- paced only while another lane's work of that class waits for the key (or was granted in the
-- last FAIR_LAPSE_MS), the one case where the order has anyone to be fair to: otherwise a call
-- takes a free slot of the window at once. So a
-- live call finds its free slot (bulk leaves live the gateway's reserve) without waiting for
-- anyone's pacing — the classes' schedules are separate, bulk's never delays live — and a lane alone
-- on its key is not paced at all. The sliding log alone keeps every grant, paced or not, within
-- the limit.
--
-- KEYS[1..n] blocks      the block keys (PTTL = ms blocked): the endpoint's, then the gateway's
-- KEYS[n+1..] buckets    per bucket, 4 keys: its log, bulk's own log, live waiters, bulk waiters
-- KEYS[..] gateway       when ARGV fair > 0, 3 more keys: waiting lanes (sorted set of
--                        `<cls>|<lane>|<waiter>` by deadline; `<waiter>` = `~`: granted lately),
--                        lanes' tags (hash, `~V` = V,
--                        `~Tlive`/`~Tbulk` = each class's pacing schedule),
--                        the key's minute log (`<lane>|<waiter>:<i>` by grant time, 60 s)
-- ARGV[1] nBlocks        how many of KEYS are blocks
-- ARGV[2] mode           'take' (take a token when free) or 'look' (only say when one is free)
-- ARGV[3] waiter         this waiter's id (in the waiter sets while it waits)
-- ARGV[4] cls            'live' or 'bulk'
-- ARGV[5] registered     '1' if this waiter may be registered in a waiter set already
-- ARGV[6] lane           the lane's id in the fair order (its Klaviyo account)
-- ARGV[7] weight         the lane's weight (RELAY_CONFIG accounts.<name>.weight, > 0)
-- ARGV[8] fair           index (1-based) of the bucket granted in the fair order, 0 = none
-- ARGV[9..] buckets      per bucket, 4 values: limit (calls), window (ms, padding included),
--                        bulk's limit (calls), bulk's minimum (calls)
-- Returns 0 when a token was (or, looking, could be) taken from every bucket, else the ms to wait.
local BUCKET_KEYS, BUCKET_ARGS, HEAD_ARGS = 4, 4, 8
-- How long bulk waits before asking again when it yields a bucket to live (ms).
local YIELD_MS = 50
-- A waiter's entry lives this long past its last ask (ms): twice the longest sleep between asks
-- (POLL_MAX_MS in src/quota/governor.ts), so a living waiter never lapses.
local WANT_TTL_MS = 2000
-- A bucket holds a waiter if its wait is within this much (ms) of the waiter's longest.
local WANT_SLACK_MS = 250
-- A waiting lane's entry lapses this long (ms) after the moment it was told to ask again: a lane
-- that stops asking (idle, or its process died) stops holding its turn within this.
local FAIR_LAPSE_MS = 250
-- After a successful look the lane keeps its turn this long (ms): the batcher fills and serializes
-- its request between the look and the take.
local LOOK_HOLD_MS = 100
-- The minute log behind per-key utilisation and per-lane share (ms).
local MINUTE_MS = 60000
local nBlocks = tonumber(ARGV[1])
local look = ARGV[2] == 'look'
local waiter = ARGV[3]
local cls = ARGV[4]
local bulk = cls == 'bulk'
local registered = ARGV[5] == '1'
local lane = ARGV[6]
local weight = tonumber(ARGV[7])
local fair = tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, nBlocks do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl > wait then wait = pttl end
end
if wait > 0 then return wait end
local fairKeys = fair > 0 and 3 or 0
local nb = (#KEYS - nBlocks - fairKeys) / BUCKET_KEYS
local fq, vt, minute = KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS]
local myStart = 0
local V = 0
-- Lanes of my class that wait for the fair bucket and go before me; `others` counts every other
-- lane of my class that competes for it: waiting, before me or not, or granted within the last
-- FAIR_LAPSE_MS (its `<cls>|<lane>|~` entry: a busy lane asks again right after each grant, and in
-- that moment it must still count, or the lanes waiting with it would take the key unpaced).
local others = 0
local paced = false
local function ahead()
  redis.call('ZREMRANGEBYSCORE', fq, '-inf', now)
  V = tonumber(redis.call('HGET', vt, '~V') or '0')
  local function start(l)
    local f = tonumber(redis.call('HGET', vt, l) or '0')
    if f < V then return V end
    return f
  end
  myStart = start(lane)
  local n, waiting, competing = 0, {}, {}
  for _, m in ipairs(redis.call('ZRANGE', fq, 0, -1)) do
    local c, l, w = string.match(m, '^([^|]*)|([^|]*)|(.*)$')
    if c == cls and l ~= lane then
      if not competing[l] then
        competing[l] = true
        others = others + 1
      end
      if w ~= '~' and not waiting[l] then
        waiting[l] = true
        local s = start(l)
        if s < myStart or (s == myStart and l < lane) then n = n + 1 end
      end
    end
  end
  return n
end
local waits = {}
for i = 1, nb do
  local k = nBlocks + BUCKET_KEYS * (i - 1)
  local a = HEAD_ARGS + BUCKET_ARGS * (i - 1)
  local log, bulkLog = KEYS[k + 1], KEYS[k + 2]
  local limit, window = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local bulkLimit, bulkMin = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
  local count = redis.call('ZCARD', log)
  local cap = limit
  local w = 0
  if bulk then
    redis.call('ZREMRANGEBYSCORE', bulkLog, '-inf', now - window)
    if redis.call('ZCARD', bulkLog) >= bulkMin then
      cap = bulkLimit
      if redis.call('ZCOUNT', KEYS[k + 3], '(' .. now, '+inf') > 0 then w = YIELD_MS end
    end
  elseif redis.call('ZCOUNT', KEYS[k + 4], '(' .. now, '+inf') > 0 then
    redis.call('ZREMRANGEBYSCORE', bulkLog, '-inf', now - window)
    local owed = bulkMin - redis.call('ZCARD', bulkLog)
    if owed > 0 then cap = limit - owed end
  end
  -- My slot: the first free one, or behind the lanes ahead of me in the fair order.
  local rank = 0
  if i == fair then
    rank = ahead()
    paced = others > 0
    if paced then
      local step = window / limit
      local tat = tonumber(redis.call('HGET', vt, '~T' .. cls) or '0')
      local pw = math.ceil(tat - step + rank * step - now)
      if pw > w then w = pw end
    end
  end
  local free = cap - count
  if free < 0 then free = 0 end
  if rank >= free then
    local idx = count - cap
    if idx < 0 then idx = 0 end
    idx = idx + rank - free
    local cw = window
    if idx < count then
      local e = redis.call('ZRANGE', log, idx, idx, 'WITHSCORES')
      cw = tonumber(e[2]) + window - now
    end
    if cw < 1 then cw = 1 end
    if cw > w then w = cw end
  end
  waits[i] = w
  if w > wait then wait = w end
end
local mine = bulk and 4 or 3
for i = 1, nb do
  local key = KEYS[nBlocks + BUCKET_KEYS * (i - 1) + mine]
  if waits[i] > 0 and waits[i] + WANT_SLACK_MS >= wait then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    redis.call('ZADD', key, now + WANT_TTL_MS, waiter)
    redis.call('PEXPIRE', key, WANT_TTL_MS)
    if i == fair then
      local sleep = wait
      if sleep > WANT_TTL_MS / 2 then sleep = WANT_TTL_MS / 2 end
      redis.call('ZADD', fq, now + sleep + FAIR_LAPSE_MS, cls .. '|' .. lane .. '|' .. waiter)
      redis.call('PEXPIRE', fq, WANT_TTL_MS)
    end
  elseif registered then
    redis.call('ZREM', key, waiter)
    if i == fair then redis.call('ZREM', fq, cls .. '|' .. lane .. '|' .. waiter) end
  end
end
if wait > 0 then return wait end
if fair > 0 then
  redis.call('ZREM', fq, cls .. '|' .. lane .. '|' .. waiter)
  if look then
    redis.call('ZADD', fq, now + LOOK_HOLD_MS, cls .. '|' .. lane .. '|hold')
    redis.call('PEXPIRE', fq, WANT_TTL_MS)
    return 0
  end
  redis.call('ZREM', fq, cls .. '|' .. lane .. '|hold')
  if myStart > V then V = myStart end
  local a = HEAD_ARGS + BUCKET_ARGS * (fair - 1)
  local step = tonumber(ARGV[a + 2]) / tonumber(ARGV[a + 1])
  local tat = tonumber(redis.call('HGET', vt, '~T' .. cls) or '0')
  if paced then
    -- Idle (more than a step behind): start the schedule afresh, one grant now and the next a step
    -- on (no burst to replay). Behind by less: keep the schedule, so a grant made late by its
    -- waiter's wake-up costs the key nothing (the next may follow at once).
    if tat < now - step then tat = now + step end
    tat = tat + step
  elseif tat < now + 2 * step then
    -- Unpaced (no other lane of the class waiting): the next paced grant a step after this one, not
    -- behind a run of unpaced grants (the schedule never runs ahead of the last grant + a step).
    tat = now + 2 * step
  end
  redis.call('HSET', vt, lane, tostring(myStart + 1 / weight), '~V', tostring(V), '~T' .. cls, tostring(tat))
  redis.call('ZADD', fq, now + FAIR_LAPSE_MS, cls .. '|' .. lane .. '|~')
  redis.call('PEXPIRE', fq, WANT_TTL_MS)
  redis.call('PEXPIRE', vt, 10 * MINUTE_MS)
  redis.call('ZREMRANGEBYSCORE', minute, '-inf', now - MINUTE_MS)
  redis.call('ZADD', minute, now, lane .. '|' .. waiter .. ':' .. fair)
  redis.call('PEXPIRE', minute, MINUTE_MS)
end
if look then return 0 end
for i = 1, nb do
  local k = nBlocks + BUCKET_KEYS * (i - 1)
  local window = tonumber(ARGV[HEAD_ARGS + BUCKET_ARGS * (i - 1) + 2])
  redis.call('ZADD', KEYS[k + 1], now, waiter .. ':' .. i)
  redis.call('PEXPIRE', KEYS[k + 1], window)
  if bulk then
    redis.call('ZADD', KEYS[k + 2], now, waiter .. ':' .. i)
    redis.call('PEXPIRE', KEYS[k + 2], window)
  end
end
return 0
