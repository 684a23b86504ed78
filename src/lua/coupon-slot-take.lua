-- A slot among an account's queued coupon-code bulk create jobs (workers/coupons/slots.ts), taken
-- or refused atomically: slots older than ttlMs are dropped (a worker that died holding one), then
-- the slot is added if fewer than cap are held. The clock is Redis's (TIME), shared by every worker.
--
-- KEYS[1] slots   sorted set, member → when it was taken (ms, Redis clock)
-- ARGV[1] member  the slot's member
-- ARGV[2] cap     most slots held at once
-- ARGV[3] ttlMs   a slot older than this is dropped (ms)
-- Returns 1 taken, 0 refused (cap held).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
