/** `npm run start:api`: the HTTP API alone (scale it separately from the workers). */
import { runEntry } from './runtime/entry.ts';

await runEntry({ api: true, workers: false });
