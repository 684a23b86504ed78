/**
 * The access line is formatted by hand (src/http/access-log.ts): it must be the line pino writes
 * for the same fields — same keys in the same order, the logger's bindings included, valid JSON
 * whatever a configured name holds — and nothing below the logger's level.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { accessLog } from '../../src/http/access-log.ts';
import { createLogger } from '../../src/log.ts';

function capture(level: string) {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: createLogger(level, {}, dest), lines };
}

const fields = { requestId: 'req-1.a:b', method: 'POST', route: '/v1/events', status: 202, ms: 3.4, source: 'api-key-1' };

describe('access line', () => {
  it("is pino's own line for the same fields: keys, order, values, bindings", () => {
    const ours = capture('info');
    const theirs = capture('info');
    const bound = { apiProcess: 4242 };
    accessLog(ours.log.child(bound))(fields);
    theirs.log.child(bound).info({ requestId: fields.requestId, method: 'POST', route: '/v1/events', status: 202, ms: 3.4, source: 'api-key-1' }, 'request');
    const [a, b] = [JSON.parse(ours.lines[0]!), JSON.parse(theirs.lines[0]!)];
    expect(Object.keys(a)).toEqual(Object.keys(b));
    expect({ ...a, time: 0 }).toEqual({ ...b, time: 0 });
    expect(new Date(a.time).toISOString()).toBe(a.time);
    expect(Math.abs(Date.parse(a.time) - Date.parse(b.time))).toBeLessThan(1000);
  });

  it('leaves out the source when there is none, as pino leaves out an undefined value', () => {
    const { log, lines } = capture('info');
    accessLog(log)({ ...fields, source: undefined, status: 401 });
    const line = JSON.parse(lines[0]!);
    expect(line).not.toHaveProperty('source');
    expect(line).toMatchObject({ status: 401, msg: 'request', service: 'klaviyo-relay' });
  });

  it('escapes what a configured name or a route holds', () => {
    const { log, lines } = capture('info');
    const write = accessLog(log);
    write({ ...fields, source: 'shop "eu"\\\n\u2028', route: '/ops/jobs/:id' });
    write({ ...fields, source: 'shop "eu"\\\n\u2028', route: '/ops/jobs/:id' }); // the remembered form
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ source: 'shop "eu"\\\n\u2028', route: '/ops/jobs/:id' });
  });

  it('writes nothing below the logger level', () => {
    const { log, lines } = capture('warn');
    accessLog(log)(fields);
    expect(lines).toEqual([]);
  });
});
