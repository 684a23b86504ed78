-- Find by id (src/ops/find.ts): what the dedupe memory holds for each item, read-only — the ref of
-- the job that carries it ("<queue>/<jobId>"), `done`, or false when it is not remembered. The
-- lookup is the claim's (src/lua/enqueue-claim.lua): the current generation and the GENERATIONS
-- before it, by the Redis server's clock.
--
-- KEYS[1] route          a key of the kind and lane (`…:meta`), in the slot of everything below
-- ARGV[1] memoryPrefix   the dedupe memory's key prefix (`<lane keys>dd:`)
-- ARGV[2] windowMs       the dedupe window (ms, RELAY_DEDUP_TTL_S)
-- ARGV[3] digests        the items' digests, DIGEST_BYTES bytes each, concatenated
-- Returns per item the job ref, 'done', or false.
local DIGEST_BYTES = 10
local GENERATIONS = 1
local mp, digests = ARGV[1], ARGV[3]
local genMs = math.ceil(tonumber(ARGV[2]) / GENERATIONS)
local t = redis.call('TIME')
local gen = math.floor((tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) / genMs)
local metas = {}
for back = 0, GENERATIONS do
  local g = gen - back
  local v = redis.call('HMGET', mp .. g .. ':m', 'n', 'l', 's')
  metas[#metas + 1] = { g = g, n = tonumber(v[1]) or 0, level = tonumber(v[2]) or 0, split = tonumber(v[3]) or 0 }
end
local out = {}
for i = 1, #digests / DIGEST_BYTES do
  local d = string.sub(digests, (i - 1) * DIGEST_BYTES + 1, i * DIGEST_BYTES)
  local b1, b2, b3, b4 = string.byte(d, 1, 4)
  local h = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  out[i] = false
  for _, tb in ipairs(metas) do
    if tb.n > 0 then
      local m = 2 ^ tb.level
      local a = h % m
      if a < tb.split then a = h % (m * 2) end
      local j = redis.call('HGET', mp .. tb.g .. ':b:' .. a, d)
      if j then
        out[i] = (j == '' and 'done') or redis.call('HGET', mp .. tb.g .. ':j', j) or false
        break
      end
    end
  end
end
return out
