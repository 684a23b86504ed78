/**
 * Standalone simulator (`npm run sim`): SIM_PORT (default 4010), SIM_HOST (default 127.0.0.1).
 * The only file of src/sim that reads the environment.
 */
import { startSimulator } from './server.ts';

const port = Number(process.env['SIM_PORT'] ?? 4010);
const host = process.env['SIM_HOST'] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SIM_PORT must be a port number, got ${JSON.stringify(process.env['SIM_PORT'])}`);
  process.exit(1);
}

const running = await startSimulator({ port, host });
const { url } = running;
console.log(`Klaviyo + Maton gateway simulator listening on ${url}
  gateway mode:  ${url}/klaviyo/api/...   Authorization: Bearer <any key>, Maton-Connection: <any id>
  direct mode:   ${url}/api/...           Authorization: Klaviyo-API-Key pk_<anything>
  connections:   ${url}/connections
  control:       ${url}/__sim/state  /__sim/requests  /__sim/stats  /__sim/faults  /__sim/webhooks  POST /__sim/reset
Point the relay at it:
  gateway mode:  MATON_API_KEY=any MATON_GATEWAY_URL=${url} MATON_CONNECTION_ID=c1 RELAY_API_KEYS=<key> npm start
  direct mode:   KLAVIYO_API_KEY=pk_any KLAVIYO_BASE_URL=${url} RELAY_API_KEYS=<key> npm start`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: closing simulator`);
    void running.close().then(() => process.exit(0));
  });
}
