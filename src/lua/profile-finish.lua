-- Ends a promotion's claim (src/profile-order.ts), if it is still this owner's: settled
-- ('d' delivered, 'x|<error>' rejected) marks the bulk job's field and lets the profile's next
-- operation go; 'gone' (the job no longer carries the item) drops the entry; '' gives the claim up.
--
-- KEYS[1] pending      the profile's pending set
-- ARGV[1] jobKey       the hash key of the bulk job that carries the claimed item
-- ARGV[2] field        the claim's field of that hash (`relay:promoted:<item key>`)
-- ARGV[3] owner        the owner the claim must name
-- ARGV[4] member       the claimed item's member of the pending set
-- ARGV[5] result       'd', 'x|<error JSON>', 'gone' or ''
-- Returns 1 done; 0 the claim was no longer this owner's.
local v = redis.call('HGET', ARGV[1], ARGV[2])
if not v or string.match(v, '^c|([^|]*)|') ~= ARGV[3] then return 0 end
local result = ARGV[5]
if result == '' or result == 'gone' then
  redis.call('HDEL', ARGV[1], ARGV[2])
else
  redis.call('HSET', ARGV[1], ARGV[2], result)
end
if result ~= '' then redis.call('ZREM', KEYS[1], ARGV[4]) end
return 1
