/**
 * A raw HTTP/1.1 client for tests that control what is sent and when: headers and part of a body,
 * nothing more, and a record of what came back and whether (when) the server closed the socket.
 */
import net from 'node:net';

export interface RawConnection {
  /** Everything received so far (latin1). */
  readonly received: () => string;
  /** The status line's code, once a response head arrived. */
  readonly status: () => number | undefined;
  /** Set when the server ended or reset the connection. */
  readonly closedAt: () => number | undefined;
  readonly write: (data: string | Buffer) => boolean;
  /** Bytes handed to the socket that it accepted (what the kernel took, not what the server read). */
  readonly sent: () => number;
  readonly destroy: () => void;
}

export function connect(url: string): Promise<RawConnection> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let received = '';
    let closedAt: number | undefined;
    let sent = 0;
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => undefined); // a reset after the server closed: recorded as closed below
    socket.on('close', () => (closedAt ??= Date.now()));
    socket.on('end', () => (closedAt ??= Date.now()));
    socket.once('connect', () =>
      resolve({
        received: () => received,
        status: () => {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
          return m ? Number(m[1]) : undefined;
        },
        closedAt: () => closedAt,
        write: (data) => {
          if (socket.destroyed) return false;
          const n = typeof data === 'string' ? Buffer.byteLength(data, 'latin1') : data.length;
          socket.write(data, () => (sent += n));
          return true;
        },
        sent: () => sent,
        destroy: () => socket.destroy(),
      }),
    );
    socket.once('error', reject);
  });
}

/** The head of a request: request line, headers, blank line. */
export function head(method: string, path: string, headers: Record<string, string | number>): string {
  return `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}
