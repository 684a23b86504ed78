-- A source's ingest limits (src/ingest/source-limits.ts), in one call: its queued bytes, then a
-- GCRA token bucket counted in items. The bytes are checked first: a refused request spends no
-- tokens. The clock is Redis's (TIME), so API processes on several machines share one bucket.
--
-- KEYS[1] tat          the GCRA's theoretical arrival time (ms, Redis clock)
-- KEYS[2] queuedBytes  the source's queued bytes (src/ingest/queued-bytes.ts)
-- ARGV[1] items        the request's items
-- ARGV[2] perItemMs    ms per item (1000 / eventsPerSecond; 0 = no rate limit)
-- ARGV[3] burstMs      burst tolerance (ms: burst × perItemMs)
-- ARGV[4] bytesLimit   the queued-bytes limit (bytes; 0 = none)
-- ARGV[5] bytes        the request's bytes
-- Returns {0, 0} accepted, {1, ms to wait} over the rate, {2, queued bytes} over the queued-bytes limit.
local limit = tonumber(ARGV[4])
if limit > 0 then
  local queued = tonumber(redis.call('GET', KEYS[2]) or '0')
  if queued > 0 and queued + tonumber(ARGV[5]) > limit then return {2, queued} end
end
local per = tonumber(ARGV[2])
if per > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local cost = tonumber(ARGV[1]) * per
  local tau = tonumber(ARGV[3])
  if tat > now and tat + cost - now > tau then
    -- until the request fits in the bucket, or (larger than the bucket) until the bucket is full
    return {1, math.ceil(tat - now + math.min(cost - tau, 0))}
  end
  local tat2 = tat + cost
  redis.call('SET', KEYS[1], string.format('%.3f', tat2), 'PX', math.ceil(tat2 - now) + 1000)
end
return {0, 0}
