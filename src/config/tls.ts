import { readFileSync } from 'node:fs';
import type { Settings } from './schema.ts';

/** A TLS setup as clients take it: PEM text, read once at start. */
export interface Tls {
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  /** Check that the server's certificate names the host connected to (verify-full, https). */
  verifyHostname: boolean;
}

export interface KafkaSecurity {
  protocol: Settings['KAFKA_SECURITY_PROTOCOL'];
  tls?: Tls;
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface PostgresTls {
  mode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
  tls?: Tls;
}

export interface RegistryAccess {
  auth?: { username: string; password: string };
  ca?: string;
}

type Issue = { key: string; message: string };

/**
 * Reads a PEM file named by a setting; a problem becomes an issue naming the setting and the file,
 * never the file's contents.
 */
function pem(key: string, file: string | undefined, issues: Issue[]): string | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({ key, message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    return undefined;
  }
  if (!text.includes('-----BEGIN ')) {
    issues.push({ key, message: `${file} holds no PEM block (-----BEGIN ...)` });
    return undefined;
  }
  return text;
}

/** Kafka's security settings, checked together (a bad combination is named, with what to set). */
export function kafkaSecurity(s: Settings, issues: Issue[]): KafkaSecurity {
  const protocol = s.KAFKA_SECURITY_PROTOCOL;
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';
  const out: KafkaSecurity = { protocol };
  const tlsFiles = ['KAFKA_SSL_CA_LOCATION', 'KAFKA_SSL_CERTIFICATE_LOCATION', 'KAFKA_SSL_KEY_LOCATION'] as const;
  if (!usesTls)
    for (const k of tlsFiles)
      if (s[k])
        issues.push({ key: k, message: `is for TLS; KAFKA_SECURITY_PROTOCOL is ${protocol} (use SSL or SASL_SSL)` });
  if (usesTls) {
    if (Boolean(s.KAFKA_SSL_CERTIFICATE_LOCATION) !== Boolean(s.KAFKA_SSL_KEY_LOCATION))
      issues.push({
        key: s.KAFKA_SSL_KEY_LOCATION ? 'KAFKA_SSL_CERTIFICATE_LOCATION' : 'KAFKA_SSL_KEY_LOCATION',
        message: 'a client certificate needs its key, and a key its certificate (mutual TLS)',
      });
    const ca = pem('KAFKA_SSL_CA_LOCATION', s.KAFKA_SSL_CA_LOCATION, issues);
    const cert = pem('KAFKA_SSL_CERTIFICATE_LOCATION', s.KAFKA_SSL_CERTIFICATE_LOCATION, issues);
    const key = pem('KAFKA_SSL_KEY_LOCATION', s.KAFKA_SSL_KEY_LOCATION, issues);
    out.tls = {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(s.KAFKA_SSL_KEY_PASSWORD ? { passphrase: s.KAFKA_SSL_KEY_PASSWORD } : {}),
      verifyHostname: s.KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM === 'https',
    };
  }
  if (usesSasl) {
    if (!s.KAFKA_SASL_MECHANISM)
      issues.push({
        key: 'KAFKA_SASL_MECHANISM',
        message: `is required with ${protocol}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`,
      });
    for (const k of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const)
      if (!s[k]) issues.push({ key: k, message: `is required with ${protocol}` });
    if (s.KAFKA_SASL_MECHANISM && s.KAFKA_SASL_USERNAME && s.KAFKA_SASL_PASSWORD)
      out.sasl = {
        mechanism: s.KAFKA_SASL_MECHANISM.toLowerCase() as 'plain',
        username: s.KAFKA_SASL_USERNAME,
        password: s.KAFKA_SASL_PASSWORD,
      };
  } else
    for (const k of ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const)
      if (s[k])
        issues.push({
          key: k,
          message: `is for SASL; KAFKA_SECURITY_PROTOCOL is ${protocol} (use SASL_SSL or SASL_PLAINTEXT)`,
        });
  return out;
}

/**
 * Postgres TLS: PG_SSL_MODE as libpq names it (verify-full checks the certificate and the host name,
 * verify-ca only the certificate, require encrypts without checking); unset, the URL's own sslmode.
 */
export function postgresTls(s: Settings, issues: Issue[]): PostgresTls | undefined {
  const mode = s.PG_SSL_MODE;
  const files = ['PG_SSL_CA_LOCATION', 'PG_SSL_CERTIFICATE_LOCATION', 'PG_SSL_KEY_LOCATION'] as const;
  if (!mode) {
    for (const k of files)
      if (s[k]) issues.push({ key: k, message: 'needs PG_SSL_MODE (require, verify-ca or verify-full)' });
    return undefined;
  }
  if (mode === 'disable') return { mode };
  if ((mode === 'verify-ca' || mode === 'verify-full') && !s.PG_SSL_CA_LOCATION)
    issues.push({
      key: 'PG_SSL_CA_LOCATION',
      message: `is required with PG_SSL_MODE=${mode}: the CA that signed the server's certificate`,
    });
  if (Boolean(s.PG_SSL_CERTIFICATE_LOCATION) !== Boolean(s.PG_SSL_KEY_LOCATION))
    issues.push({
      key: 'PG_SSL_KEY_LOCATION',
      message: 'a client certificate needs its key, and a key its certificate',
    });
  const ca = pem('PG_SSL_CA_LOCATION', s.PG_SSL_CA_LOCATION, issues);
  const cert = pem('PG_SSL_CERTIFICATE_LOCATION', s.PG_SSL_CERTIFICATE_LOCATION, issues);
  const key = pem('PG_SSL_KEY_LOCATION', s.PG_SSL_KEY_LOCATION, issues);
  return {
    mode,
    tls: {
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      verifyHostname: mode === 'verify-full',
    },
  };
}

export function registryAccess(s: Settings, issues: Issue[]): RegistryAccess {
  if (Boolean(s.SCHEMA_REGISTRY_USERNAME) !== Boolean(s.SCHEMA_REGISTRY_PASSWORD))
    issues.push({
      key: 'SCHEMA_REGISTRY_PASSWORD',
      message: 'basic auth needs both SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD',
    });
  const ca = pem('SCHEMA_REGISTRY_SSL_CA_LOCATION', s.SCHEMA_REGISTRY_SSL_CA_LOCATION, issues);
  return {
    ...(s.SCHEMA_REGISTRY_USERNAME && s.SCHEMA_REGISTRY_PASSWORD
      ? { auth: { username: s.SCHEMA_REGISTRY_USERNAME, password: s.SCHEMA_REGISTRY_PASSWORD } }
      : {}),
    ...(ca ? { ca } : {}),
  };
}
