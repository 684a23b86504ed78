/** `npm run start:worker`: the workers alone. */
import { runEntry } from '../src/runtime/entry.ts';

await runEntry({ api: false, workers: true });
