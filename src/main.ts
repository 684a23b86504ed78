/** `npm start`: the API and the workers in one process (with the sandbox when no credentials are set). */
import { runEntry } from './runtime/entry.ts';

await runEntry({ api: true, workers: true });
