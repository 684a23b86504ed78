-- A replayed dead letter moved to another queue (src/ops/dead-letters.ts): the item keys that
-- named its old job now name the job it became, so a resend of one of its items is still
-- recognised as a duplicate. Compare-and-set: a key naming anything else is left alone.
--
-- KEYS[1..] items      the job's item keys (one kind and lane: one hash slot)
-- ARGV[1] from         the old job's ref ("<queue>/<jobId>")
-- ARGV[2] legacyFrom   the old job's bare id when it was in a legacy queue (as keys written before issue 12 name it), else ''
-- ARGV[3] to           the new job's ref
-- Returns 0.
for _, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v == ARGV[1] or v == ARGV[2] then redis.call('SET', k, ARGV[3], 'KEEPTTL') end
end
return 0
