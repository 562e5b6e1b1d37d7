import tls from 'node:tls';
import { AccessError } from '../errors.ts';
import type { Config } from './config.ts';

type Service = 'Kafka' | 'Postgres' | 'the Schema Registry';

const CA_SETTING: Record<Service, string> = {
  Kafka: 'KAFKA_SSL_CA_LOCATION',
  Postgres: 'PG_SSL_CA_LOCATION',
  'the Schema Registry': 'SCHEMA_REGISTRY_SSL_CA_LOCATION',
};

/** The error and what caused it, outermost first (kafkajs and pg wrap the socket's error). */
function chain(err: unknown): { code?: string; message: string; name?: string }[] {
  const out: { code?: string; message: string; name?: string }[] = [];
  let e = err as
    | { code?: string; message?: string; name?: string; cause?: unknown; originalError?: unknown }
    | undefined;
  for (let i = 0; e && i < 6; i++) {
    out.push({
      ...(e.code ? { code: String(e.code) } : {}),
      message: String(e.message ?? e),
      ...(e.name ? { name: e.name } : {}),
    });
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return out;
}

const UNTRUSTED =
  /SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|self-signed certificate|unable to verify the first certificate|unable to get local issuer certificate/i;

/**
 * What a refusal by Kafka, Postgres or the registry means, when retrying cannot fix it: credentials
 * refused, a certificate not trusted, a client certificate missing. The message names the problem
 * and the setting to look at, never a secret.
 */
export function accessProblem(service: Service, err: unknown): AccessError | undefined {
  for (const e of chain(err)) {
    const text = `${e.code ?? ''} ${e.message}`;
    if (e.name === 'KafkaJSSASLAuthenticationError' || /authentication failed|SASL.*failed/i.test(e.message))
      return service === 'Kafka'
        ? new AccessError(
            service,
            'the credentials were refused (SASL authentication failed)',
            'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
            err,
          )
        : new AccessError(service, 'the credentials were refused', 'check the user and password in DATABASE_URL', err);
    if (e.code === '28P01' || e.code === '28000')
      return new AccessError(
        service,
        'the credentials were refused',
        'check the user and password in DATABASE_URL',
        err,
      );
    if (UNTRUSTED.test(text))
      return new AccessError(
        service,
        `the server's certificate is not trusted (${e.message})`,
        `check ${CA_SETTING[service]}: it must hold the CA that signed the server's certificate`,
        err,
      );
    if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
      return new AccessError(
        service,
        `the server's certificate does not name the host connected to (${e.message})`,
        'connect by a name the certificate holds',
        err,
      );
    if (/certificate required|CERTIFICATE_REQUIRED|bad certificate/i.test(text))
      return new AccessError(
        service,
        'the server requires a client certificate, and none (or one it does not accept) was sent',
        service === 'Kafka'
          ? 'set KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION'
          : 'set PG_SSL_CERTIFICATE_LOCATION and PG_SSL_KEY_LOCATION',
        err,
      );
    if (/does not support SSL/i.test(e.message))
      return new AccessError(
        service,
        'the server does not offer TLS',
        'unset PG_SSL_MODE, or enable ssl on the server',
        err,
      );
  }
  return undefined;
}

/**
 * A TLS handshake with the first broker, as kafkajs would make it, before kafkajs does: a certificate
 * problem then fails the start at once and by name, instead of as connection errors kafkajs retries
 * for a minute. With TLS 1.3 a missing client certificate is only refused after the handshake, so
 * the probe also waits a moment for the server's verdict.
 */
export async function checkKafkaTls(config: Config): Promise<void> {
  const t = config.kafka.security.tls;
  const broker = config.kafka.brokers[0];
  if (!t || !broker) return;
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at);
  const port = Number(broker.slice(at + 1));
  await new Promise<void>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ...(t.ca ? { ca: [t.ca] } : {}),
      ...(t.cert ? { cert: t.cert } : {}),
      ...(t.key ? { key: t.key } : {}),
      ...(t.passphrase ? { passphrase: t.passphrase } : {}),
      ...(/^[\d.]+$/.test(host) ? {} : { servername: host }),
      rejectUnauthorized: true,
      ...(t.verifyHostname ? {} : { checkServerIdentity: () => undefined }),
    });
    const done = (err?: Error) => {
      socket.destroy();
      const problem = err && accessProblem('Kafka', err);
      if (problem) reject(problem);
      // Anything else (the broker not up yet) is for the client's own retries to meet.
      else resolve();
    };
    socket.setTimeout(5_000, () => done());
    socket.once('error', done);
    socket.once('secureConnect', () => setTimeout(() => done(), 500));
  });
}
