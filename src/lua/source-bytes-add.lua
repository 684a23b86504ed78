-- Adds jobs to a source's queued-bytes ledger (src/ingest/queued-bytes.ts), each job once
-- (HSETNX), and their bytes to the source's total.
--
-- KEYS[1] total        the source's queued bytes
-- KEYS[2] ledger       the source's ledger (hash: job key → bytes)
-- ARGV[1..] jobs       per job, 2 values: its job key, its bytes
-- Returns the bytes added (jobs already in the ledger add nothing).
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then added = added + tonumber(ARGV[i + 1]) end
end
if added > 0 then redis.call('INCRBY', KEYS[1], added) end
return added
