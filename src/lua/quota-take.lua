-- The quota governor's take (src/quota/governor.ts): may a call to an endpoint go now, and if
-- so take a token from every bucket it is subject to, atomically.
-- Blocks first: while any block key lives (a 429's Retry-After, `RateLimit-Remaining: 0`), the
-- answer is its remaining time. Then per bucket, a sliding log of grants (a sorted set of send
-- times) and the classes' rules: bulk yields a bucket live waits for unless bulk is below its
-- minimum share; live leaves bulk its minimum while bulk waits (see the governor's comment).
-- A waiter registers only on the buckets that hold it (within WANT_SLACK_MS of its longest wait).
--
-- KEYS[1..n] blocks      the block keys (PTTL = ms blocked): the endpoint's, then the gateway's
-- KEYS[n+1..] buckets    per bucket, 4 keys: its log, bulk's own log, live waiters, bulk waiters
-- ARGV[1] nBlocks        how many of KEYS are blocks
-- ARGV[2] mode           'take' (take a token when free) or 'look' (only say when one is free)
-- ARGV[3] waiter         this waiter's id (in the waiter sets while it waits)
-- ARGV[4] cls            'live' or 'bulk'
-- ARGV[5] registered     '1' if this waiter may be registered in a waiter set already
-- ARGV[6..] buckets      per bucket, 4 values: limit (calls), window (ms, padding included),
--                        bulk's limit (calls), bulk's minimum (calls)
-- Returns 0 when a token was (or, looking, could be) taken from every bucket, else the ms to wait.
local BUCKET_KEYS, BUCKET_ARGS, HEAD_ARGS = 4, 4, 5
-- How long bulk waits before asking again when it yields a bucket to live (ms).
local YIELD_MS = 50
-- A waiter's entry lives this long past its last ask (ms): twice the longest sleep between asks
-- (POLL_MAX_MS in src/quota/governor.ts), so a living waiter never lapses.
local WANT_TTL_MS = 2000
-- A bucket holds a waiter if its wait is within this much (ms) of the waiter's longest.
local WANT_SLACK_MS = 250
local nBlocks = tonumber(ARGV[1])
local look = ARGV[2] == 'look'
local waiter = ARGV[3]
local bulk = ARGV[4] == 'bulk'
local registered = ARGV[5] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, nBlocks do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl > wait then wait = pttl end
end
if wait > 0 then return wait end
local nb = (#KEYS - nBlocks) / BUCKET_KEYS
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
  if count >= cap then
    local e = redis.call('ZRANGE', log, count - cap, count - cap, 'WITHSCORES')
    local cw = tonumber(e[2]) + window - now
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
  elseif registered then
    redis.call('ZREM', key, waiter)
  end
end
if wait > 0 or look then return wait end
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
