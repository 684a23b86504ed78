-- A profile operation's turn in its profile's order (src/profile-order.ts): may it be applied
-- now? Entries in the way whose job finished, or never got added (past the grace), are dropped.
-- Modes: 'check' only answers whether the item is first; 'live' may claim an earlier bulk item at
-- the head (promotion: the claim is a field of the bulk job's hash, `c|<owner>|<until ms>`);
-- 'bulk' first looks at the item's own claim field ('d' applied by a live worker, 'x|<error>'
-- rejected when promoted, or a claim whose lease may have run out).
-- Leases run on Redis's clock (TIME): the promoter and the bulk job may be on machines whose
-- clocks differ. Members name their job as `<queue>/<jobId>|<item key>|<ms>`, or (written before
-- issue 12) `<jobId>|<item key>|<ms>` for a job of the legacy queue (src/item-keys.ts
-- pendingMember). The claim field's prefix is src/redis-keys.ts's PROMOTED_FIELD.
--
-- KEYS[1] pending      the profile's pending set (sorted set: member → sequence number)
-- ARGV[1] member       the item's own member of that set
-- ARGV[2] legacyJobs   the legacy queue's job key prefix ("<bullPrefix>:profiles.<lane>:")
-- ARGV[3] bullPrefix   the bull prefix of the lane's profiles ("<prefix>:{profiles.<lane>}")
-- ARGV[4] nowMs        the members' clock now (ms since epoch, the caller's), for the grace
-- ARGV[5] graceMs      how long an entry whose job does not exist is given (ms)
-- ARGV[6] mode         'check', 'live' or 'bulk'
-- ARGV[7] owner        (live) the id a claim names as its owner
-- ARGV[8] leaseMs      (live) how long a claim holds without renewal (ms)
-- ARGV[9] jobKey       (bulk) the hash key of the item's own job
-- ARGV[10] itemKey     (bulk) the item's key
-- Returns {1} first, {0} wait, {2, head member, head job key, head job data} claimed for the
-- caller, {3} applied already through the live path, {4, error JSON} rejected when promoted.
local PROMOTED_FIELD = 'relay:promoted:'
local key, me, legacy, bp = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local now, grace, mode = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
-- Leases run on Redis's clock: the promoter and the bulk job may be on machines whose clocks differ.
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function leaseOf(v)
  return v and tonumber(string.match(v, '^c|[^|]*|(%d+)$'))
end
if mode == 'bulk' then
  local field = PROMOTED_FIELD .. ARGV[10]
  local v = redis.call('HGET', ARGV[9], field)
  if v then
    if v == 'd' then
      redis.call('ZREM', key, me)
      return {3}
    end
    local err = string.match(v, '^x|(.*)$')
    if err then
      redis.call('ZREM', key, me)
      return {4, err}
    end
    local untilMs = leaseOf(v)
    if untilMs and untilMs > clock then return {0} end
    -- The promoter's lease ran out (it crashed, or lost Redis): this job applies the item itself.
    redis.call('HDEL', ARGV[9], field)
  end
end
for _ = 1, 100 do
  local head = redis.call('ZRANGE', key, 0, 0)[1]
  if not head or head == me then return {1} end
  local job, item, ts = string.match(head, '^([^|]+)|([^|]+)|(%d+)$')
  local stale = false
  if not job then
    stale = true
  else
    local qp, jobId, q = legacy, job, nil
    local q2, id = string.match(job, '^([^/]+)/(.+)$')
    if q2 then q, qp, jobId = q2, bp .. ':' .. q2 .. ':', id end
    local jobKey = qp .. jobId
    if redis.call('EXISTS', jobKey) == 0 then
      stale = now - tonumber(ts) > grace
      if not stale then return {0} end
    elseif redis.call('ZSCORE', qp .. 'failed', jobId) or redis.call('ZSCORE', qp .. 'completed', jobId) then
      stale = true
    elseif mode == 'live' and q and string.match(q, '^[^.]+%.[^.]+%.bulk%.') then
      local field = PROMOTED_FIELD .. item
      local v = redis.call('HGET', jobKey, field)
      if v == 'd' or (v and string.sub(v, 1, 2) == 'x|') then
        stale = true -- settled through the live path already (its removal from this set was lost)
      else
        local untilMs = leaseOf(v)
        if untilMs and untilMs > clock then return {0} end
        if redis.call('EXISTS', jobKey .. ':lock') == 1 or redis.call('LPOS', qp .. 'active', jobId) then return {0} end
        redis.call('HSET', jobKey, field, 'c|' .. ARGV[7] .. '|' .. (clock + tonumber(ARGV[8])))
        return {2, head, jobKey, redis.call('HGET', jobKey, 'data') or ''}
      end
    else
      return {0}
    end
  end
  redis.call('ZREM', key, head)
end
return {0}
