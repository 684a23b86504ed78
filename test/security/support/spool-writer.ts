/**
 * A process that owns a spool file and keeps writing to it, for test/security/spool.test.ts:
 *   node --import tsx test/security/support/spool-writer.ts <dir> <name> <heartbeatMs> <staleMs>
 * Prints "ready", then appends a record every 100 ms and prints its number once it is fsync'ed.
 * It never stops by itself (the test kills it; at most 1,000 records).
 */
import { Spool } from '../../../src/ingest/spool.ts';

const [dir, name, heartbeatMs, staleMs] = process.argv.slice(2);
const spool = await Spool.open(dir!, name!, 1 << 30, { heartbeatMs: Number(heartbeatMs), staleMs: Number(staleMs) });
process.stdout.write('ready\n');
let i = 0;
const timer = setInterval(() => {
  if (i >= 1000) return clearInterval(timer);
  spool.append({ m: 'events', o: { id: name!, lane: 'default' }, items: [`${name}-${i}`] });
  process.stdout.write(`appended ${i++}\n`);
}, 100);
