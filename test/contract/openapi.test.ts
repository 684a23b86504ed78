/**
 * Contract between the project and Klaviyo's OpenAPI spec (klaviyo/openapi stable.json,
 * revision 2026-07-15): the extracted subset still says what the spec says, endpoints.ts agrees
 * with it, and the validator accepts bodies shaped as Klaviyo's API reference shows them and rejects broken
 * ones at the right pointer.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BODY_ENDPOINTS, ENDPOINTS, type EndpointName, operationIdOf } from '../../src/klaviyo/endpoints.ts';
import { BODY_OPERATION_IDS, OPENAPI } from '../../src/klaviyo/openapi/operations.ts';
import { validateRequestBody } from '../../src/klaviyo/openapi/validate.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const templ = (path: string) => path.replace(/\{\w+\}/g, '{}');

function refsIn(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const n of node) refsIn(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'example' || k === 'examples') continue;
      if (k === '$ref' && typeof v === 'string') out.add(v);
      else refsIn(v, out);
    }
  }
  return out;
}

// The extracted subset is compared with the full spec by `npm run openapi:check` (the spec is
// not part of a checkout). Here: the subset is whole, and the project agrees with it.
describe('operations.json', () => {
  it('is the subset of revision 2026-07-15 with every operation we call', () => {
    expect(OPENAPI.source.revision).toBe('2026-07-15');
    const ids = Object.keys(OPENAPI.operations).sort();
    const names = Object.keys(ENDPOINTS) as EndpointName[];
    expect(ids).toEqual([...new Set(names.map(operationIdOf))].sort());
    // A request-body schema for exactly the endpoints endpoints.ts says carry one.
    const withBody = new Set<string>(BODY_ENDPOINTS);
    for (const name of names) expect(OPENAPI.operations[operationIdOf(name)].requestBody !== undefined, name).toBe(withBody.has(name));
    for (const id of BODY_OPERATION_IDS) expect(OPENAPI.operations[id].requestBody, id).toBeDefined();
    expect(operationIdOf('get_bulk_import_profiles_job_errors')).toBe('get_errors_for_bulk_import_profiles_job');
  });

  it('carries exactly the referenced component schemas', () => {
    const needed = new Set<string>();
    const queue = [...refsIn(Object.values(OPENAPI.operations).map((o) => o.requestBody?.schema))];
    while (queue.length) {
      const ref = queue.pop()!;
      expect(ref.startsWith('#/components/schemas/')).toBe(true);
      const name = ref.slice('#/components/schemas/'.length);
      if (needed.has(name)) continue;
      needed.add(name);
      expect(OPENAPI.components.schemas[name], name).toBeDefined();
      queue.push(...refsIn(OPENAPI.components.schemas[name]));
    }
    expect(Object.keys(OPENAPI.components.schemas).sort()).toEqual([...needed].sort());
  });

  it('agrees with endpoints.ts on method, path and limits', () => {
    for (const [name, ep] of Object.entries(ENDPOINTS) as [EndpointName, (typeof ENDPOINTS)[EndpointName]][]) {
      const op = OPENAPI.operations[operationIdOf(name)];
      expect(ep.method, name).toBe(op.method);
      expect(templ(ep.path), name).toBe(templ(op.path));
      expect(`${ep.burst}/s`, name).toBe(op['x-klaviyo-ratelimit']?.burst);
      expect(`${ep.steady}/m`, name).toBe(op['x-klaviyo-ratelimit']?.steady);
    }
  });

  it('ships the MIT licence with its source line', () => {
    const licence = readFileSync(resolve(root, 'src/klaviyo/openapi/LICENSE'), 'utf8');
    expect(licence).toMatch(/klaviyo\/openapi.*2026-07-15/);
    expect(licence).toContain('MIT License');
    expect(licence).toContain('Copyright (c) 2022 Klaviyo');
  });
});

// Bodies as Klaviyo's API reference shows them (create event, bulk events, profile-import, subscribe).
const metricRef = () => ({ data: { type: 'metric', attributes: { name: 'Placed Order' } } });
const createEvent = () => ({
  data: {
    type: 'event',
    attributes: {
      properties: { OrderId: '123' },
      time: '2022-11-08T00:00:00+00:00',
      value: 9.99,
      value_currency: 'USD',
      unique_id: 'order-123',
      backfill: false,
      metric: metricRef(),
      profile: {
        data: {
          type: 'profile',
          attributes: { email: 'a@b.c', phone_number: '+15551234567', external_id: 'u1', first_name: 'A', properties: { plan: 'pro' } },
        },
      },
    },
  },
});
const bulkEvents = () => ({
  data: {
    type: 'event-bulk-create-job',
    attributes: {
      'events-bulk-create': {
        data: [
          {
            type: 'event-bulk-create',
            attributes: {
              profile: { data: { type: 'profile', attributes: { email: 'a@b.c' } } },
              events: {
                data: [{ type: 'event', attributes: { properties: {}, time: '2022-11-08T00:00:00Z', value: 1, unique_id: 'x', metric: metricRef() } }],
              },
            },
          },
        ],
      },
    },
  },
});
const profileImport = () => ({
  data: {
    type: 'profile',
    attributes: { email: 'a@b.c', phone_number: null, first_name: 'A', location: null, properties: { plan: 'pro' } },
    meta: { patch_properties: { append: { tags: 'x' }, unset: ['old'] } },
  },
});
const subscribe = () => ({
  data: {
    type: 'profile-subscription-bulk-create-job',
    attributes: {
      custom_source: 'Checkout',
      historical_import: false,
      profiles: {
        data: [
          {
            type: 'profile',
            attributes: {
              email: 'a@b.c',
              phone_number: '+15551234567',
              subscriptions: { email: { marketing: { consent: 'SUBSCRIBED' } }, sms: { marketing: { consent: 'SUBSCRIBED' } } },
            },
          },
        ],
      },
    },
    relationships: { list: { data: { type: 'list', id: 'Y6nRLr' } } },
  },
});

describe('validateRequestBody', () => {
  it('accepts the documented bodies', () => {
    const good: [Parameters<typeof validateRequestBody>[0], unknown][] = [
      ['create_event', createEvent()],
      ['bulk_create_events', bulkEvents()],
      ['create_or_update_profile', profileImport()],
      ['create_profile', { data: { type: 'profile', attributes: { email: 'a@b.c' } } }],
      ['update_profile', { data: { type: 'profile', id: '01M1PAAR5HBCRHA3NN9NG5WRTA', attributes: { first_name: null } } }],
      [
        'bulk_import_profiles',
        {
          data: {
            type: 'profile-bulk-import-job',
            attributes: { profiles: { data: [profileImport().data] } },
            relationships: { lists: { data: [{ type: 'list', id: 'Y6nRLr' }] } },
          },
        },
      ],
      ['add_profiles_to_list', { data: [{ type: 'profile', id: '01M1PAAR5HBCRHA3NN9NG5WRTA' }] }],
      ['remove_profiles_from_list', { data: [{ type: 'profile', id: '01M1PAAR5HBCRHA3NN9NG5WRTA' }] }],
      ['bulk_subscribe_profiles', subscribe()],
      [
        'bulk_unsubscribe_profiles',
        {
          data: {
            type: 'profile-subscription-bulk-delete-job',
            attributes: {
              profiles: { data: [{ type: 'profile', attributes: { email: 'a@b.c', subscriptions: { email: { marketing: { consent: 'UNSUBSCRIBED' } } } } }] },
            },
          },
        },
      ],
      [
        'create_webhook',
        {
          data: {
            type: 'webhook',
            attributes: { name: 'relay', endpoint_url: 'https://relay.example.com/webhooks/klaviyo', secret_key: 'a-long-random-secret' },
            relationships: { 'webhook-topics': { data: [{ type: 'webhook-topic', id: 'event:klaviyo.unsubscribed_from_email_marketing' }] } },
          },
        },
      ],
      ['update_webhook', { data: { type: 'webhook', id: '01M1PAC5N9PMXJ7672AC8B75VN', attributes: { secret_key: 'the-next-secret', enabled: null } } }],
    ];
    for (const [op, body] of good) expect(validateRequestBody(op, body), op).toEqual({ ok: true });
  });

  const pointersOf = (r: ReturnType<typeof validateRequestBody>) => (r.ok ? [] : r.errors.map((e) => e.pointer));

  it('rejects broken bodies at the right pointer', () => {
    const noName = createEvent();
    delete (noName.data.attributes.metric.data.attributes as Partial<ReturnType<typeof metricRef>['data']['attributes']>).name;
    expect(pointersOf(validateRequestBody('create_event', noName))).toEqual(['/data/attributes/metric/data/attributes/name']);

    const badTime = createEvent();
    badTime.data.attributes.time = '08/11/2022';
    expect(pointersOf(validateRequestBody('create_event', badTime))).toEqual(['/data/attributes/time']);

    const wrongType = createEvent();
    wrongType.data.type = 'events';
    expect(pointersOf(validateRequestBody('create_event', wrongType))).toEqual(['/data/type']);

    const noProperties = createEvent();
    delete (noProperties.data.attributes as Partial<ReturnType<typeof createEvent>['data']['attributes']>).properties;
    expect(pointersOf(validateRequestBody('create_event', noProperties))).toEqual(['/data/attributes/properties']);

    const badValue = bulkEvents();
    (badValue.data.attributes['events-bulk-create'].data[0]!.attributes.events.data[0]!.attributes as { value: unknown }).value = 'one';
    expect(pointersOf(validateRequestBody('bulk_create_events', badValue))).toEqual([
      '/data/attributes/events-bulk-create/data/0/attributes/events/data/0/attributes/value',
    ]);

    const badConsent = subscribe();
    (badConsent.data.attributes.profiles.data[0]!.attributes.subscriptions.email.marketing as { consent: string }).consent = 'YES';
    expect(pointersOf(validateRequestBody('bulk_subscribe_profiles', badConsent))).toEqual([
      '/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consent',
    ]);

    expect(pointersOf(validateRequestBody('add_profiles_to_list', { data: [{ type: 'profile' }] }))).toEqual(['/data/0/id']);

    // A webhook needs its secret and its topics (relationships), and the rotation PATCH names the webhook.
    expect(
      pointersOf(
        validateRequestBody('create_webhook', { data: { type: 'webhook', attributes: { name: 'x', endpoint_url: 'https://x.example' }, relationships: {} } }),
      ),
    ).toEqual(['/data/attributes/secret_key', '/data/relationships/webhook-topics']);
    expect(pointersOf(validateRequestBody('update_webhook', { data: { type: 'webhook', attributes: { secret_key: 'x' } } }))).toEqual(['/data/id']);
  });

  it('handles OpenAPI 3.0 nullable beside $ref and oneOf', () => {
    const withNullLocation = profileImport();
    expect(validateRequestBody('create_or_update_profile', withNullLocation)).toEqual({ ok: true });
    const numberLocation = profileImport();
    (numberLocation.data.attributes as Record<string, unknown>)['location'] = 5;
    expect(pointersOf(validateRequestBody('create_or_update_profile', numberLocation))).toEqual(['/data/attributes/location']);
    const latitude = profileImport();
    (latitude.data.attributes as Record<string, unknown>)['location'] = { latitude: null, longitude: '-71.06' };
    expect(validateRequestBody('create_or_update_profile', latitude)).toEqual({ ok: true });
    const nullUnset = profileImport();
    nullUnset.data.meta.patch_properties.unset = null as never;
    expect(validateRequestBody('create_or_update_profile', nullUnset)).toEqual({ ok: true });
  });
});
