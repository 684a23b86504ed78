-- Answers with its key and argument: the loader's test (test/integration/lua-script.test.ts).
--
-- KEYS[1] key          a key
-- ARGV[1] label        a word
-- Returns {key, label}.
return {KEYS[1], ARGV[1]}
