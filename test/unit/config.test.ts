import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/errors.ts';

const base = { KAFKA_BROKERS: '127.0.0.1:9092', DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ env: base });
    expect(c.kombo.apiUrl).toBe('https://api.kombo.dev/v1');
    expect(c.http.port).toBe(8080);
    expect(c.kafka.topicPrefix).toBe('kombo');
    expect(c.kombo.endpoints).toContain('hris/employees');
    expect(c.kombo.endpoints).toHaveLength(23);
    expect(c.schemaRegistryUrl).toBeUndefined();
  });

  it('splits comma-separated brokers, secrets and endpoints', () => {
    const c = loadConfig({
      env: {
        ...base,
        KAFKA_BROKERS: 'a:1, b:2',
        KOMBO_WEBHOOK_SECRET: 'old,new',
        KOMBO_ENDPOINTS: 'hris/employees,ats/jobs,hris/employees',
      },
    });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.kombo.webhookSecrets).toEqual(['old', 'new']);
    expect(c.kombo.endpoints).toEqual(['hris/employees', 'ats/jobs']);
  });

  it('applies an excluded field wherever its model is nested, and takes nested paths', () => {
    const c = loadConfig({
      env: { ...base, KOMBO_EXCLUDE_FIELDS: 'hris/employments.pay_rate,hris/employees.bank_accounts.iban' },
    });
    expect(c.fetcher.excludeFields.get('hris/employments')).toEqual(['pay_rate']);
    expect(c.fetcher.excludeFields.get('hris/employees')).toEqual([
      'employments.pay_rate',
      'bank_accounts.iban',
      'manager.bank_accounts.iban',
    ]);
    expect(() => loadConfig({ env: { ...base, KOMBO_EXCLUDE_FIELDS: 'hris/employees.' } })).toThrow(
      /KOMBO_EXCLUDE_FIELDS/,
    );
  });

  it('checks Kafka, Postgres and registry security settings together, naming each bad combination', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/ks-tls-`);
    await writeFile(`${dir}/not-pem.txt`, 'hello');
    const issues = (env: Record<string, string>) => {
      try {
        loadConfig({ env: { ...base, ...env } });
        return [];
      } catch (e) {
        return (e as ConfigError).issues.map((i) => `${i.key}: ${i.message}`);
      }
    };
    expect(issues({ KAFKA_SECURITY_PROTOCOL: 'SASL_SSL' })).toEqual([
      expect.stringMatching(/^KAFKA_SASL_MECHANISM: is required with SASL_SSL/),
      'KAFKA_SASL_USERNAME: is required with SASL_SSL',
      'KAFKA_SASL_PASSWORD: is required with SASL_SSL',
    ]);
    expect(issues({ KAFKA_SASL_MECHANISM: 'PLAIN' })).toEqual([
      expect.stringMatching(/^KAFKA_SASL_MECHANISM: is for SASL/),
    ]);
    expect(issues({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CERTIFICATE_LOCATION: `${dir}/not-pem.txt` })).toEqual([
      expect.stringMatching(/^KAFKA_SSL_KEY_LOCATION: a client certificate needs its key/),
      expect.stringMatching(/^KAFKA_SSL_CERTIFICATE_LOCATION: .*holds no PEM block/),
    ]);
    expect(issues({ KAFKA_SECURITY_PROTOCOL: 'SSL', KAFKA_SSL_CA_LOCATION: `${dir}/missing.pem` })).toEqual([
      expect.stringMatching(/^KAFKA_SSL_CA_LOCATION: cannot read .*missing\.pem \(ENOENT\)/),
    ]);
    expect(issues({ PG_SSL_MODE: 'verify-full' })).toEqual([expect.stringMatching(/^PG_SSL_CA_LOCATION: is required/)]);
    expect(issues({ SCHEMA_REGISTRY_USERNAME: 'key' })).toEqual([
      expect.stringMatching(/^SCHEMA_REGISTRY_PASSWORD: basic auth needs both/),
    ]);
    // A password in a bad combination is never echoed.
    expect(issues({ KAFKA_SASL_PASSWORD: 'hunter2-secret' }).join('\n')).not.toContain('hunter2');
  });

  it('names every bad key at once', () => {
    let err: unknown;
    try {
      loadConfig({ env: { KAFKA_BROKERS: 'nohostport', PORT: 'x', KOMBO_ENDPOINTS: 'hris/nope' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const keys = (err as ConfigError).issues.map((i) => i.key).sort();
    expect(keys).toEqual(['DATABASE_URL', 'KAFKA_BROKERS', 'KOMBO_ENDPOINTS', 'PORT']);
    expect((err as ConfigError).message).toContain('DATABASE_URL: is required');
    expect((err as ConfigError).code).toBe('KS_ERR_CONFIG');
  });

  it('never echoes secret values in errors', () => {
    try {
      loadConfig({ env: { ...base, ADMIN_TOKEN: 'short-s3cret' } });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('ADMIN_TOKEN');
      expect((e as Error).message).not.toContain('short-s3cret');
    }
  });

  it('never echoes any part of a config file that is not valid JSON, not even a fragment of a secret', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/ks-config-`);
    const file = `${dir}/c.json`;
    const secret = 'whsec_7f3a9c2e5b8d1046';
    // The secret pasted without quotes: JSON.parse's own message quotes the text around the error.
    await writeFile(file, `{\n  "PORT": 8080,\n  "KOMBO_WEBHOOK_SECRET": ${secret}\n}`);
    let message = '';
    try {
      loadConfig({ env: {}, file });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/c\.json is not valid JSON/);
    for (let i = 0; i + 6 <= secret.length; i++) expect(message).not.toContain(secret.slice(i, i + 6));
    expect(message).not.toContain('_SECRET');
  });

  it('lets the environment override the file, and rejects unknown file keys', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/ks-config-`);
    const file = `${dir}/c.json`;
    await writeFile(file, JSON.stringify({ ...base, PORT: 9000, TOPIC_PREFIX: 'fromfile' }));
    const c = loadConfig({ env: { TOPIC_PREFIX: 'fromenv' }, file });
    expect(c.http.port).toBe(9000);
    expect(c.kafka.topicPrefix).toBe('fromenv');
    await writeFile(file, JSON.stringify({ ...base, KAFKA_BROKER: 'typo:1' }));
    expect(() => loadConfig({ env: {}, file })).toThrow(/KAFKA_BROKER: unknown setting/);
  });
});
