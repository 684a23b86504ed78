/**
 * The simulator in its own process for the fault suite: Klaviyo's and the gateway's real limits,
 * event bodies kept (the suite reads every recorded unique_id). Prints its URL on the first line.
 */
import { startSimulator } from '../../src/sim/index.ts';

const running = await startSimulator({ port: 0, host: '127.0.0.1', retainEventBodies: true, maxRecordedRequests: 5000 });
process.stdout.write(`${running.url}\n`);
const stop = () => void running.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
