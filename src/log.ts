/**
 * Structured JSON logs (pino). Secrets are redacted by path wherever they could appear.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.apiKey',
  '*.matonApiKey',
  'apiKey',
  'matonApiKey',
  'config.klaviyo.apiKey',
  'config.klaviyo.matonApiKey',
  'config.apiKeys',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'klaviyo-relay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
