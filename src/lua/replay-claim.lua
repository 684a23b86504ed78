-- Claims a Standard Webhooks message id for one request (src/webhooks/replay-cache.ts), unless a
-- request holds it already or it was accepted. Values: `accepted:<fingerprint>`, or
-- `pending:<fingerprint>:<token>` while a request holds the id.
--
-- KEYS[1] id           the id's key (`<prefix>:{webhook-ids}:<source>:<id>`)
-- ARGV[1] pending      the pending value for this request
-- ARGV[2] ttlMs        how long the claim holds if the request never settles (ms)
-- Returns 'claimed', 'accepted' or 'pending' (the state another request left).
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 9) == 'accepted:' then return 'accepted' end
  return 'pending'
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'
