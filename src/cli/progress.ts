/**
 * Progress for anything that takes more than a second, on stderr so that stdout (tables, --json)
 * stays clean. On a terminal: a spinner with the elapsed time, erased when done. Otherwise (a pipe,
 * a CI log): a plain line when the wait passes a second, and a line per change of label.
 */
import { duration } from './format.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  /** Changes what is being waited for. */
  update(label: string): void;
  /** Stops and erases the spinner. */
  stop(): void;
}

export function progress(label: string, opts: { delayMs?: number; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const started = Date.now();
  let current = label;
  let shown = false;
  let printed = '';
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;

  const draw = () => {
    shown = true;
    if (tty) {
      const elapsed = Math.floor((Date.now() - started) / 1000) * 1000;
      stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${current}${elapsed > 0 ? ` ${duration(elapsed)}` : ''}`);
    } else if (printed !== current) {
      printed = current;
      stream.write(`${current}…\n`);
    }
  };
  const delay = setTimeout(() => {
    draw();
    if (tty) timer = setInterval(draw, 100);
    timer?.unref();
  }, opts.delayMs ?? 1000);
  delay.unref();

  return {
    update(next) {
      current = next;
      if (shown && !tty) draw();
    },
    stop() {
      clearTimeout(delay);
      if (timer) clearInterval(timer);
      if (shown && tty) stream.write('\r\x1b[2K');
    },
  };
}

/** Runs `work` with a progress indicator that appears if it takes more than a second. */
export async function withProgress<T>(label: string, work: () => Promise<T>): Promise<T> {
  const p = progress(label);
  try {
    return await work();
  } finally {
    p.stop();
  }
}
