import { describe, expect, it } from 'vitest';
import { parseRelayConfig, RelayConfigError } from '../../src/relay-config.ts';
import { flowWebhookContext, systemWebhookContext } from '../../src/rules/context.ts';
import { evaluate } from '../../src/rules/engine.ts';

const file = parseRelayConfig(
  {
    flows: { vip: { secret: 'flow-secret-0123456789' } },
    rules: [
      { on: { topic: 'event:klaviyo.unsubscribed_from_email_marketing' }, do: [{ removeFromList: 'WinBck' }] },
      {
        on: { topic: 'event:klaviyo.clicked_email' },
        when: { 'properties.Campaign Name': { equals: 'Black Friday' } },
        do: [{ updateProfile: { properties: { bf_clicker: true } } }],
      },
      {
        on: { flow: 'vip' },
        when: { 'body.tier': { in: ['gold', 'platinum'] }, 'properties.spend': { gte: 1000 } },
        do: [{ addToList: 'VIPxyz' }, { createEvent: { metric: 'Became VIP', properties: { via: 'flow' }, value: 1 } }],
      },
    ],
  },
  {},
);
const event = (props: Record<string, unknown>) => ({
  data: { type: 'event', id: 'E1', attributes: { event_properties: props }, relationships: { profile: { data: { type: 'profile', id: '01KPROFILE' } } } },
});
const origin = { id: 'klaviyo-webhooks' };

describe('rules', () => {
  it("remove from list: on a topic, for the event's profile", () => {
    const out = evaluate(file.rules, systemWebhookContext('event:klaviyo.unsubscribed_from_email_marketing', event({})), origin, 'X1');
    expect(out.applied).toEqual([0]);
    expect(out.ops).toEqual([expect.objectContaining({ operation: { op: 'list-remove', listId: 'WinBck', member: { kid: '01KPROFILE' } } })]);
    expect(out.events).toEqual([]);
  });

  it('update profile properties, when the condition holds', () => {
    const out = evaluate(file.rules, systemWebhookContext('event:klaviyo.clicked_email', event({ 'Campaign Name': 'Black Friday' })), origin, 'X2');
    expect(out.ops[0]!.operation).toEqual({ op: 'upsert', profile: { kid: '01KPROFILE', properties: { bf_clicker: true } } });
  });

  it('a condition that does not hold applies nothing', () => {
    const out = evaluate(file.rules, systemWebhookContext('event:klaviyo.clicked_email', event({ 'Campaign Name': 'Spring' })), origin, 'X3');
    expect(out).toMatchObject({ applied: [], filtered: 1, ops: [], events: [] });
  });

  it('an unknown topic applies nothing', () => {
    const out = evaluate(file.rules, systemWebhookContext('event:klaviyo.opened_email', event({})), origin, 'X4');
    expect(out).toMatchObject({ applied: [], filtered: 0, ops: [], events: [] });
  });

  it('add to list and create an event, from a flow body', () => {
    const ctx = flowWebhookContext('vip', { profile: { email: 'ada@example.com' }, tier: 'gold', properties: { spend: '1200' } });
    const out = evaluate(file.rules, ctx, { id: 'flow-vip' }, 'F1');
    expect(out.ops[0]!.operation).toEqual({ op: 'list-add', listId: 'VIPxyz', member: { email: 'ada@example.com' } });
    expect(out.events[0]!.event).toMatchObject({ event: 'Became VIP', profile: { email: 'ada@example.com' }, properties: { via: 'flow' }, value: 1 });
    expect(
      evaluate(file.rules, flowWebhookContext('vip', { email: 'b@example.com', tier: 'silver', properties: { spend: 5000 } }), { id: 'flow-vip' }, 'F2')
        .applied,
    ).toEqual([]);
  });

  it('keys are deterministic per item, rule and action, and differ between them', () => {
    const ctx = flowWebhookContext('vip', { email: 'ada@example.com', tier: 'gold', properties: { spend: 2000 } });
    const a = evaluate(file.rules, ctx, { id: 'flow-vip' }, 'F1');
    const b = evaluate(file.rules, ctx, { id: 'flow-vip' }, 'F1');
    const c = evaluate(file.rules, ctx, { id: 'flow-vip' }, 'F2');
    expect(a.ops[0]!.key).toBe(b.ops[0]!.key);
    expect(a.ops[0]!.key).not.toBe(a.events[0]!.key);
    expect(a.ops[0]!.key).not.toBe(c.ops[0]!.key);
  });

  it('skips actions when the item names no profile', () => {
    const out = evaluate(file.rules, systemWebhookContext('event:klaviyo.unsubscribed_from_email_marketing', { data: {} }), origin, 'X5');
    expect(out).toMatchObject({ applied: [0], noProfile: 1, ops: [] });
  });
});

describe('config file validation', () => {
  it('reports every problem with its path', () => {
    let err: unknown;
    try {
      parseRelayConfig(
        {
          accounts: { eu: {} },
          sources: [{ name: 'Shop!', keySha256: 'abc', account: 'nowhere' }],
          flows: { vip: { secret: 'env:MISSING_FLOW_SECRET' } },
          rules: [{ on: { flow: 'ghost' }, do: [{ addToList: 'bad/id' }] }],
          extra: true,
        },
        {},
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RelayConfigError);
    const text = (err as RelayConfigError).problems.join('\n');
    expect(text).toContain('accounts.eu');
    expect(text).toContain('sources.0.name');
    expect(text).toContain('sources.0.keySha256');
    expect(text).toContain('MISSING_FLOW_SECRET');
    expect(text).toContain('rules.0.do.0');
    expect(text).toMatch(/extra/);
  });

  it('resolves env: secrets and checks account references', () => {
    const cfg = parseRelayConfig(
      { flows: { vip: { secret: 'env:VIP_SECRET', account: 'eu' } }, accounts: { eu: { connection: 'c-eu' } } },
      { VIP_SECRET: 'from-env-0123456789' },
    );
    expect(cfg.flows.vip!.secret).toBe('from-env-0123456789');
    expect(() => parseRelayConfig({ flows: { vip: { secret: 'flow-secret-0123456789', account: 'us' } } }, {})).toThrow(/no account named "us"/);
  });
});

describe('loading the config file', () => {
  it('reads YAML and JSON', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { loadRelayConfig } = await import('../../src/relay-config.ts');
    const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
    writeFileSync(join(dir, 'relay.yaml'), 'flows:\n  vip:\n    secret: env:VIP\nrules:\n  - on: { flow: vip }\n    do:\n      - addToList: VIPxyz\n');
    writeFileSync(join(dir, 'relay.json'), JSON.stringify({ accounts: { eu: { connection: 'c1' } } }));
    writeFileSync(join(dir, 'broken.yaml'), 'rules: [\n');
    expect(loadRelayConfig(join(dir, 'relay.yaml'), { VIP: 'vip-flow-secret-0123456789' }).rules[0]!.do).toEqual([{ addToList: 'VIPxyz' }]);
    expect(loadRelayConfig(join(dir, 'relay.json'), {}).accounts.eu).toEqual({ connection: 'c1' });
    expect(() => loadRelayConfig(join(dir, 'broken.yaml'), {})).toThrow(/not valid YAML/);
    expect(() => loadRelayConfig(join(dir, 'missing.yaml'), {})).toThrow(/cannot read it/);
  });
});
