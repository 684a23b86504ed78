/**
 * The part of Klaviyo's filter syntax the simulator answers for get_profiles
 * (developers.klaviyo.com/en/docs/filtering_; OAS get_profiles `filter` allows `any`/`equals` on
 * id, email, phone_number, external_id): `equals(field,"value")` and `any(field,["a","b"])`,
 * strings in double or single quotes. Anything else is refused with 400, so a relay relying on
 * an unsupported filter finds out in tests rather than in production.
 */
export type ProfileFilterField = 'id' | 'email' | 'phone_number' | 'external_id';

export interface ProfileFilter {
  field: ProfileFilterField;
  values: string[];
}

const FIELDS = new Set<string>(['id', 'email', 'phone_number', 'external_id']);
const QUOTED = /^\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*/;

function unescapeQuoted(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** Parses a filter expression; throws an Error with a readable message when unsupported. */
export function parseProfileFilter(expr: string): ProfileFilter {
  const m = /^\s*(equals|any)\(\s*([a-z_]+)\s*,(.*)\)\s*$/s.exec(expr);
  if (!m) throw new Error(`Unsupported filter ${JSON.stringify(expr)}: the simulator supports equals(field,"v") and any(field,["a","b"]).`);
  const [, op, field = '', rest = ''] = m;
  if (!FIELDS.has(field)) throw new Error(`Filtering on ${field} is not supported; use id, email, phone_number or external_id.`);
  if (op === 'equals') {
    const q = QUOTED.exec(rest);
    if (!q || q[0].length !== rest.length) throw new Error(`equals(${field}, …) needs one quoted string.`);
    return { field: field as ProfileFilterField, values: [unescapeQuoted(q[1] ?? q[2] ?? '')] };
  }
  const list = /^\s*\[(.*)\]\s*$/s.exec(rest);
  if (!list) throw new Error(`any(${field}, …) needs a list of quoted strings.`);
  const values: string[] = [];
  let body = list[1] ?? '';
  while (body.trim() !== '') {
    const q = QUOTED.exec(body);
    if (!q) throw new Error(`any(${field}, …) needs a list of quoted strings.`);
    values.push(unescapeQuoted(q[1] ?? q[2] ?? ''));
    body = body.slice(q[0].length);
    if (body.startsWith(',')) body = body.slice(1);
    else if (body.trim() !== '') throw new Error(`any(${field}, …) needs a list of quoted strings.`);
  }
  if (values.length === 0) throw new Error(`any(${field}, …) needs at least one value.`);
  return { field: field as ProfileFilterField, values };
}
