/**
 * Cross-site request forgery on /ops. A browser that has logged in to the dashboard with HTTP
 * Basic remembers the credentials and attaches them to every request to this host — including a
 * form that another site posts here (`<form action="https://relay/ops/lanes/default/pause">`). So a
 * write with Basic credentials is accepted only from our own pages, as the browser tells it:
 * `Sec-Fetch-Site: same-origin` (every current browser sends it), or else an `Origin` equal to
 * this request's own origin. A request with neither is refused: it cannot be told apart from a
 * forged one. A Bearer token is never attached by a browser on its own, so it needs none of this.
 */
import type { Context } from 'hono';
import { header } from '../header.ts';

/** Anything but GET and HEAD may change something. */
export const isWrite = (method: string) => method !== 'GET' && method !== 'HEAD';

export interface Refusal {
  readonly error: 'cross_origin' | 'origin_missing';
  readonly message: string;
}

/** The first of a comma-separated header's values (proxies append theirs). */
const first = (v: string | undefined) => v?.split(',')[0]?.trim() || undefined;

function normalizedOrigin(s: string): string | undefined {
  try {
    const origin = new URL(s).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * The origin the browser addressed. Behind a TLS-terminating proxy that is the proxy's scheme and
 * host (X-Forwarded-Proto / X-Forwarded-Host). Trusting those is safe here: a forged cross-site
 * request cannot set them (a page may add such headers only after a CORS preflight, which /ops
 * never grants), and a client that can set any header does not need a browser's credentials.
 */
function ownOrigin(c: Context): string | undefined {
  const url = new URL(c.req.url);
  const proto = first(header(c, 'x-forwarded-proto')) ?? url.protocol.slice(0, -1);
  const host = first(header(c, 'x-forwarded-host')) ?? header(c, 'host') ?? url.host;
  return normalizedOrigin(`${proto}://${host}`);
}

/** Why a write with browser-held credentials must be refused, or undefined when it comes from our own pages. */
export function crossOriginRefusal(c: Context): Refusal | undefined {
  const site = header(c, 'sec-fetch-site');
  if (site !== undefined) {
    if (site.trim().toLowerCase() === 'same-origin') return undefined;
    return {
      error: 'cross_origin',
      message: `A write with Basic credentials must come from the dashboard's own pages (Sec-Fetch-Site: ${site}); scripts use "Authorization: Bearer <token>"`,
    };
  }
  const origin = header(c, 'origin');
  if (origin === undefined) {
    return {
      error: 'origin_missing',
      message: 'A write with Basic credentials needs a same-origin browser request (Sec-Fetch-Site or Origin); scripts use "Authorization: Bearer <token>"',
    };
  }
  const own = ownOrigin(c);
  if (own !== undefined && normalizedOrigin(origin) === own) return undefined;
  return {
    error: 'cross_origin',
    message: `A write with Basic credentials must come from the dashboard's own pages (Origin ${JSON.stringify(origin)} is not ${JSON.stringify(own ?? '?')}); scripts use "Authorization: Bearer <token>"`,
  };
}
