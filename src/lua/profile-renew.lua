-- Extends a promotion's claim (src/profile-order.ts), if it is still this owner's; the lease
-- runs on Redis's clock.
--
-- KEYS[1] job          the hash key of the bulk job that carries the claimed item
-- ARGV[1] field        the claim's field of that hash
-- ARGV[2] owner        the owner the claim must name
-- ARGV[3] leaseMs      the new lease, from now (ms)
-- Returns 1 renewed; 0 no longer this owner's.
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.match(v, '^c|([^|]*)|') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], 'c|' .. ARGV[2] .. '|' .. (clock + tonumber(ARGV[3])))
return 1
