/** Klaviyo writes datetimes as `2022-11-08T00:00:00+00:00` (OAS examples). */
export function klaviyoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** Maton writes ISO-8601 with microseconds and `Z` (docs/klaviyo-and-maton.md §6). */
export function matonTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
