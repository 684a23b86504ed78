-- Settles a claimed message id (src/webhooks/replay-cache.ts), if this request still holds it:
-- accepted (answered 2xx) or released (any other answer, so the sender's retry is not swallowed).
--
-- KEYS[1] id           the id's key
-- ARGV[1] pending      the pending value this request set
-- ARGV[2] accepted     the accepted value ('' = release the id)
-- ARGV[3] ttlMs        how long an accepted id is kept (ms)
-- Returns 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  else
    redis.call('DEL', KEYS[1])
  end
end
return 0
