-- A gateway grant's request is leaving now (src/quota/governor.ts, `Grant.sent`): its entries in
-- the key's sliding log and minute log move from the grant's time to now, Redis's clock (issue 19).
-- The margin on the gateway's window then covers only the spread from here to the gateway's count
-- (the socket, the network, the far side), not a worker's stall between the grant and the send
-- (a GC pause, a busy event loop, a starved process: 300–500 ms on an overloaded machine). A later
-- time only ever keeps the entry in the window longer, so no later grant can see more room than
-- the sends left; grants made meanwhile already counted the entry. An entry already trimmed (the
-- request left over a window after its grant) is not put back: the caller is told, and counts it.
--
-- KEYS[1] log        the key's gateway log (`…:gateway:1s`, sorted set of grant times)
-- KEYS[2] minute     the key's minute log (`…:gateway:60s`)
-- ARGV[1] member     the grant's entry in the log (`<waiter>:<i>`)
-- ARGV[2] minuteMember the grant's entry in the minute log (`<lane>|<waiter>:<i>`)
-- ARGV[3] window     the log's window (ms): its TTL is kept at least this long past now
-- Returns 1 when the entry moved (or was at now already), 0 when it was gone.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not at then return 0 end
if tonumber(at) < now then
  redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
  local window = tonumber(ARGV[3])
  if redis.call('PTTL', KEYS[1]) < window then redis.call('PEXPIRE', KEYS[1], window) end
  redis.call('ZADD', KEYS[2], 'XX', now, ARGV[2])
end
return 1
