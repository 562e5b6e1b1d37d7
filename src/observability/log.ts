import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets must never be logged in the first place; the redaction list is the
 * second line of defence for the usual places they hide.
 */
export function createLogger(opts: { level: string; name?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: opts.name ?? 'kombo-stream',
      level: opts.level,
      redact: {
        paths: [
          'apiKey',
          '*.apiKey',
          'secret',
          '*.secret',
          'webhookSecrets',
          '*.webhookSecrets',
          'adminToken',
          '*.adminToken',
          'headers.authorization',
          'headers["x-kombo-signature"]',
          '*.headers.authorization',
          'databaseUrl',
          '*.databaseUrl',
          'password',
          '*.password',
          'passphrase',
          '*.passphrase',
          'key',
          '*.key',
        ],
        censor: '[redacted]',
      },
    },
    opts.destination,
  );
}
