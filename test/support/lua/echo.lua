-- Answers with what it was given, in order: the loader's test (test/integration/lua-script.test.ts).
--
-- KEYS[1] first        a key
-- KEYS[2..] rest       more keys, in the same slot
-- ARGV[1] label        a word
-- ARGV[2..] values     more words
-- Returns {keys…, '|', args…}.
local out = {}
for _, k in ipairs(KEYS) do out[#out + 1] = k end
out[#out + 1] = '|'
for _, a in ipairs(ARGV) do out[#out + 1] = a end
return out
