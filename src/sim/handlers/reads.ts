/**
 * get_profiles (GET /api/profiles) and get_accounts (GET /api/accounts).
 *
 * get_profiles pages with `page[size]` (default 20, 1–100) and an opaque `page[cursor]`, and
 * answers `links.self/next/prev` as **absolute** URLs (OAS CollectionLinks). Through the gateway
 * those links point at Klaviyo's origin, because the gateway passes Klaviyo's body through
 * unchanged (docs/klaviyo-and-maton.md §4) — a client must swap the origin itself.
 */
import { KlaviyoHttpError } from '../json-api.ts';
import { shortId } from '../ids.ts';
import { parseProfileFilter } from '../profile-filter.ts';
import { findBy, profileResource } from '../profile-store.ts';
import type { SimProfile } from '../state.ts';
import type { Handler } from './context.ts';

function encodeCursor(offset: number): string {
  return Buffer.from(`offset:${offset}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const m = /^offset:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw KlaviyoHttpError.of(400, 'Invalid page cursor.', { source: { parameter: 'page[cursor]' } });
  return Number(m[1]);
}

export const getProfiles: Handler = (ctx) => {
  const q = ctx.query;
  const sizeParam = q.get('page[size]');
  const size = sizeParam === null ? 20 : Number(sizeParam);
  if (!Number.isInteger(size) || size < 1 || size > 100) {
    throw KlaviyoHttpError.of(400, 'page[size] must be an integer between 1 and 100.', { source: { parameter: 'page[size]' } });
  }
  const cursor = q.get('page[cursor]');
  const offset = cursor === null ? 0 : decodeCursor(cursor);

  let matches: SimProfile[];
  const filterExpr = q.get('filter');
  if (filterExpr !== null && filterExpr !== '') {
    let filter: ReturnType<typeof parseProfileFilter>;
    try {
      filter = parseProfileFilter(filterExpr);
    } catch (e) {
      throw KlaviyoHttpError.of(400, (e as Error).message, { source: { parameter: 'filter' } });
    }
    const seen = new Set<SimProfile>();
    for (const value of filter.values) {
      const p = filter.field === 'id' ? ctx.account.profiles.get(value) : findBy(ctx.account, filter.field, value);
      if (p) seen.add(p);
    }
    // Keep creation order, as for an unfiltered listing.
    matches = [...seen].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  } else {
    matches = [...ctx.account.profiles.values()];
  }

  const withSubscriptions = (q.get('additional-fields[profile]') ?? '').split(',').includes('subscriptions');
  const page = matches.slice(offset, offset + size);
  const link = (cursorOffset: number | null): string => {
    const params = new URLSearchParams(q);
    params.delete('page[cursor]');
    if (cursorOffset !== null && cursorOffset > 0) params.set('page[cursor]', encodeCursor(cursorOffset));
    const qs = params.toString();
    return `${ctx.linkOrigin}/api/profiles/${qs ? `?${qs}` : ''}`;
  };
  const links: Record<string, string> = { self: link(offset) };
  if (offset + size < matches.length) links['next'] = link(offset + size);
  if (offset > 0) links['prev'] = link(Math.max(0, offset - size));
  return {
    status: 200,
    body: { data: page.map((p) => profileResource(p, ctx.linkOrigin, withSubscriptions)), links },
  };
};

export const getAccounts: Handler = (ctx) => {
  const account = ctx.account;
  const publicKey = shortId(`public:${account.id}`);
  return {
    status: 200,
    body: {
      data: [
        {
          type: 'account',
          id: account.id,
          attributes: {
            test_account: true,
            contact_information: {
              default_sender_name: 'Klaviyo Simulator',
              default_sender_email: 'sim@example.com',
              website_url: 'https://example.com',
              organization_name: `Simulated account ${account.id.length > 12 ? shortId(account.id) : account.id}`,
              street_address: { address1: '125 Summer Street', address2: null, city: 'Boston', region: 'MA', country: 'US', zip: '02110' },
            },
            industry: null,
            timezone: 'UTC',
            preferred_currency: 'USD',
            public_api_key: publicKey,
            locale: 'en-US',
          },
          links: { self: `${ctx.linkOrigin}/api/accounts/${account.id}/` },
        },
      ],
      links: { self: `${ctx.linkOrigin}/api/accounts/` },
    },
  };
};
