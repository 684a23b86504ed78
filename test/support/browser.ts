/**
 * Where a Chromium for the browser tests is, if anywhere. playwright-core never downloads one
 * (`npx playwright install` fails on machines without the internet), so the tests use whatever
 * is installed: CHROMIUM_PATH, then the usual install paths of Debian/Ubuntu, Fedora, snaps,
 * Google Chrome, macOS and Playwright's own cache.
 *
 * On a fresh machine without one, the browser tests report themselves skipped with the reason,
 * so `npm test` passes there. CI sets RELAY_REQUIRE_BROWSER=1 (.ci/run installs Debian's
 * chromium): then a missing browser is a failure, never a silent skip.
 */
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/opt/google/chrome/chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

function playwrightCache(): string[] {
  const dir = join(homedir(), '.cache', 'ms-playwright');
  try {
    return readdirSync(dir)
      .filter((d) => d.startsWith('chromium'))
      .flatMap((d) => [join(dir, d, 'chrome-linux', 'chrome'), join(dir, d, 'chrome-linux64', 'chrome')]);
  } catch {
    return [];
  }
}

export interface BrowserLookup {
  /** The executable, when one was found. */
  readonly path?: string;
  /** Why there is none (for the skip message or the failure). */
  readonly reason?: string;
  /** Whether a missing browser must fail the run (RELAY_REQUIRE_BROWSER=1, set by CI). */
  readonly required: boolean;
}

export function findChromium(env: NodeJS.ProcessEnv = process.env): BrowserLookup {
  const required = env.RELAY_REQUIRE_BROWSER === '1' || env.RELAY_REQUIRE_BROWSER === 'true';
  const given = env.CHROMIUM_PATH?.trim();
  if (given) {
    return existsSync(given) ? { path: given, required } : { reason: `CHROMIUM_PATH=${given} does not exist`, required };
  }
  const path = [...CANDIDATES, ...playwrightCache()].find((p) => existsSync(p));
  if (path) return { path, required };
  return { reason: 'no Chromium found (install one, e.g. `apt-get install chromium`, or set CHROMIUM_PATH)', required };
}

/** The standard flags for a headless Chromium on a machine without network access. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
