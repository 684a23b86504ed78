/**
 * RELAY_METRICS_TOKEN: /metrics names every queue, lane and endpoint and how busy each is — a map
 * of the deployment that needs no credentials to read unless one is set. Prometheus sends it as
 * `authorization: {type: Bearer, credentials: …}`. Shared by the API's /metrics and a worker's.
 */
import { sharedSecretMatches } from './webhooks/shared-secret.ts';

/** Without a token every scrape is allowed; with one, only `Authorization: Bearer <token>` (compared in constant time). */
export function metricsScrapeAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  return sharedSecretMatches(bearer?.[1], token);
}

export const METRICS_UNAUTHORIZED_BODY = JSON.stringify({
  error: 'metrics_unauthorized',
  message: '/metrics needs the RELAY_METRICS_TOKEN as "Authorization: Bearer <token>"',
});
