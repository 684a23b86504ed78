/**
 * Secrets never reach output meant for people (the start-up banner, configuration errors,
 * `relay doctor`): a terminal's scrollback, CI logs and pasted bug reports outlive a rotation.
 * One place decides what counts as a secret and how it is hidden, so every output agrees.
 */

/**
 * Settings whose whole value is a secret (API keys, tokens, signing secrets, passwords): an error
 * about one says what is wrong, never what was given.
 */
export function isSecretSetting(name: string): boolean {
  return /(^|_)(KEY|KEYS|TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASS)$/i.test(name);
}

const MASK = '***';

/**
 * Hides the password of every `scheme://user:password@host` in `text`: `redis://:p%40ss@h:6379`
 * → `redis://:***@h:6379`, `redis://u:pw@h` → `redis://u:***@h`, `redis://pw@h` → `redis://***@h`.
 * Works on the raw text, not on a parsed URL: a password written with a raw `@`, `/` or `:`
 * (which a URL parser re-encodes or splits elsewhere) must not survive either. The credentials
 * run to the last `@` before whitespace or a quote — or, with `whole`, when `text` is one
 * setting's value, to the last `@` in it (a raw space in a password too) — so a password is
 * over-masked rather than leaked. One pass, no backtracking.
 */
export function maskUrlCredentials(text: string, opts: { whole?: boolean } = {}): string {
  let out = '';
  let from = 0;
  for (const c of credentials(text, opts.whole ?? false)) {
    const userinfo = text.slice(c.start, c.at);
    const colon = userinfo.indexOf(':');
    // A lone `secret@host` is how some providers write a password-only URL: hide it as well.
    out += text.slice(from, c.start) + (colon >= 0 ? `${userinfo.slice(0, colon)}:${MASK}` : MASK);
    from = c.at;
  }
  return out + text.slice(from);
}

/** Where each URL's userinfo is: from `start` (after `://`) to `at` (its last `@`). */
function credentials(text: string, whole: boolean): { start: number; at: number }[] {
  const found: { start: number; at: number }[] = [];
  let from = 0;
  for (;;) {
    const scheme = text.indexOf('://', from);
    if (scheme < 0) return found;
    const start = scheme + 3;
    let end = start;
    let at = -1;
    for (; end < text.length; end++) {
      const ch = text[end]!;
      if (!whole && /[\s"'`]/.test(ch)) break;
      if (ch === '@') at = end;
    }
    if (at >= 0) found.push({ start, at });
    from = end;
  }
}

/** How a configuration error shows the value it refused: secrets not at all, URLs without passwords. */
export function shownValue(name: string, value: string | undefined): string {
  if (value === undefined) return 'nothing';
  if (isSecretSetting(name)) return `a value of ${value.length} characters, not shown: it is a secret`;
  return JSON.stringify(maskUrlCredentials(value, { whole: true }));
}

/**
 * Every secret in `env` as it could appear in a message: the values of secret settings, and the
 * password of any URL-valued setting both as written and percent-decoded (a client library
 * decodes it, then may quote it). Values shorter than 4 characters are left out: hiding every
 * `x` in a message would hide the message.
 */
export function secretValues(env: NodeJS.ProcessEnv): string[] {
  const found = new Set<string>();
  for (const [name, raw] of Object.entries(env)) {
    const value = raw?.trim();
    if (!value) continue;
    if (isSecretSetting(name)) found.add(value);
    for (const password of urlPasswords(value)) {
      found.add(password);
      try {
        found.add(decodeURIComponent(password));
      } catch {
        /* not valid percent-encoding: the raw form is enough */
      }
    }
  }
  return [...found].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

function urlPasswords(value: string): string[] {
  return credentials(value, true).map(({ start, at }) => {
    const userinfo = value.slice(start, at);
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? userinfo.slice(colon + 1) : userinfo;
  });
}

/** `text` with URL credentials masked and every secret of `env` replaced by `***`. */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv): string {
  let out = maskUrlCredentials(text);
  for (const secret of secretValues(env)) out = out.split(secret).join(MASK);
  return out;
}
