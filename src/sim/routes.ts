/**
 * Maps `METHOD /api/...` to an endpoint of endpoints.ts. Klaviyo accepts a trailing slash (its
 * own links use `/api/profiles/?…`), so one is ignored.
 */
import { ENDPOINTS, type EndpointName } from '../klaviyo/endpoints.ts';

interface CompiledRoute {
  endpoint: EndpointName;
  method: string;
  re: RegExp;
  params: string[];
}

const compiled: CompiledRoute[] = (Object.entries(ENDPOINTS) as [EndpointName, (typeof ENDPOINTS)[EndpointName]][]).map(([endpoint, spec]) => {
  const params: string[] = [];
  const pattern = spec.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    params.push(name);
    return '([^/]+)';
  });
  return { endpoint, method: spec.method, re: new RegExp(`^${pattern}$`), params };
});

export type RouteMatch =
  | { kind: 'endpoint'; endpoint: EndpointName; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

export function matchRoute(method: string, path: string): RouteMatch {
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const allowed: string[] = [];
  for (const route of compiled) {
    const m = route.re.exec(p);
    if (!m) continue;
    if (route.method !== method.toUpperCase()) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.params.forEach((name, i) => {
      params[name] = decodeURIComponent(m[i + 1] ?? '');
    });
    return { kind: 'endpoint', endpoint: route.endpoint, params };
  }
  return allowed.length > 0 ? { kind: 'method-not-allowed', allowed } : { kind: 'not-found' };
}
