import { parseArgs } from 'node:util';
import { request } from 'undici';
import { accessProblem, checkKafkaTls } from '../config/access.ts';
import { type Config, describeSettings, loadConfig } from '../config/config.ts';
import { AccessError, ConfigError } from '../errors.ts';
import { poolFor } from '../state/pool.ts';
import { kafkaClient } from '../topics/kafka.ts';
import { createSerde } from '../topics/serde-factory.ts';
import { topicSpecs } from '../topics/topology.ts';

interface Finding {
  ok: boolean;
  part: string;
  /** What was found, and for a problem what to do about it. */
  text: string;
}

const reason = (service: 'Kafka' | 'Postgres' | 'the Schema Registry', err: unknown) =>
  (err instanceof AccessError ? err : accessProblem(service, err))?.message ??
  `${service}: cannot be reached (${(err as Error).message})`;

async function checkKafka(config: Config): Promise<Finding[]> {
  const kafka = kafkaClient(config, 'kombo-stream-doctor', { retries: 2 });
  try {
    await checkKafkaTls(config);
    const topics = await kafka.listTopics();
    const out: Finding[] = [
      {
        ok: true,
        part: 'Kafka',
        text: `reached ${config.kafka.brokers.join(',')} (${config.kafka.security.protocol}); ${topics.length} topics`,
      },
    ];
    const specs = topicSpecs(config);
    const records = [...specs.records.values()];
    const counts = await kafka.partitionCounts(records.map((r) => r.name));
    const missing = records.filter((r) => !counts.has(r.name)).map((r) => r.name);
    if (missing.length)
      out.push({
        ok: true,
        part: 'Kafka',
        text: `${missing.length} record topics do not exist yet; the connector creates them at start (cleanup.policy=compact, ${config.kafka.partitions} partitions)`,
      });
    for (const r of records) {
      const n = counts.get(r.name);
      if (n === undefined) continue;
      const policy = (await kafka.topicConfig(r.name))['cleanup.policy'] ?? '';
      if (!policy.split(',').includes('compact'))
        out.push({
          ok: false,
          part: 'Kafka',
          text: `${r.name} has cleanup.policy=${policy || '(unset)'}: a record topic must be compacted, or old versions and deletions are lost to retention; set cleanup.policy=compact on it`,
        });
      if (n !== config.kafka.partitions)
        out.push({
          ok: false,
          part: 'Kafka',
          text: `${r.name} has ${n} partitions, KAFKA_PARTITIONS says ${config.kafka.partitions}: set KAFKA_PARTITIONS=${n} (the topic is kept as it is)`,
        });
    }
    return out;
  } catch (err) {
    return [{ ok: false, part: 'Kafka', text: reason('Kafka', err) }];
  } finally {
    await kafka.close();
  }
}

async function checkPostgres(config: Config): Promise<Finding[]> {
  const pool = poolFor(config, { max: 1 });
  try {
    const who = (
      await pool.query<{ u: string; v: string }>("SELECT current_user AS u, current_setting('server_version') AS v")
    ).rows[0];
    const out: Finding[] = [{ ok: true, part: 'Postgres', text: `connected as ${who?.u} (server ${who?.v})` }];
    for (const schema of [config.postgres.sinkSchema, config.postgres.stateSchema]) {
      const r = await pool.query<{ exists: boolean; may: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists,
                CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) THEN has_schema_privilege($1, 'CREATE')
                     ELSE has_database_privilege(current_database(), 'CREATE') END AS may`,
        [schema],
      );
      const row = r.rows[0];
      out.push(
        row?.may
          ? {
              ok: true,
              part: 'Postgres',
              text: `may create its tables in schema ${schema}${row.exists ? '' : ' (created at start)'}`,
            }
          : {
              ok: false,
              part: 'Postgres',
              text: `${who?.u} may not create ${row?.exists ? `tables in schema ${schema}` : `schema ${schema}`}: GRANT CREATE ON ${row?.exists ? `SCHEMA ${schema}` : 'DATABASE <db>'} TO ${who?.u}`,
            },
      );
    }
    return out;
  } catch (err) {
    return [{ ok: false, part: 'Postgres', text: reason('Postgres', err) }];
  } finally {
    await pool.end();
  }
}

async function checkRegistry(config: Config): Promise<Finding[]> {
  if (!config.schemaRegistryUrl)
    return [{ ok: true, part: 'Schema Registry', text: 'not configured: records are JSON' }];
  try {
    await createSerde(config);
    return [
      {
        ok: true,
        part: 'Schema Registry',
        text: `reached ${new URL(config.schemaRegistryUrl).host}: records are Avro`,
      },
    ];
  } catch (err) {
    return [{ ok: false, part: 'Schema Registry', text: (err as Error).message }];
  }
}

async function checkKombo(config: Config): Promise<Finding[]> {
  if (!config.kombo.apiKey)
    return [
      {
        ok: false,
        part: 'Kombo',
        text: 'KOMBO_API_KEY is not set: the fetcher cannot read anything; set it to your Kombo API key',
      },
    ];
  try {
    const res = await request(`${config.kombo.apiUrl}/check-api-key`, {
      headers: { authorization: `Bearer ${config.kombo.apiKey}`, accept: 'application/json' },
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    await res.body.dump();
    if (res.statusCode === 200)
      return [{ ok: true, part: 'Kombo', text: `the API key is accepted at ${config.kombo.apiUrl}` }];
    if (res.statusCode === 401 || res.statusCode === 403)
      return [
        {
          ok: false,
          part: 'Kombo',
          text: `${config.kombo.apiUrl} refused the API key (${res.statusCode}): check KOMBO_API_KEY, and KOMBO_API_URL for the region (https://api.kombo.dev/v1 or https://api.us.kombo.dev/v1)`,
        },
      ];
    return [{ ok: false, part: 'Kombo', text: `${config.kombo.apiUrl}/check-api-key answered ${res.statusCode}` }];
  } catch (err) {
    return [{ ok: false, part: 'Kombo', text: `${config.kombo.apiUrl} cannot be reached (${(err as Error).message})` }];
  }
}

/**
 * `kombo-stream doctor`: the configuration as it takes effect (every setting, where it came from,
 * secrets masked), then whether Kafka, Postgres, the Schema Registry and Kombo can be reached with
 * it, and whether what exists fits (record topics compacted and of the configured partition count;
 * Postgres lets us create our tables). Read-only: it creates, migrates and writes nothing. Exits
 * non-zero on any problem.
 */
export async function runDoctor(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const opts = { env, ...(values.config ? { file: values.config } : {}) };
  const say = (s: string) => process.stdout.write(`${s}\n`);
  say('Settings (effective value, and where it came from):');
  const settings = describeSettings(opts);
  const width = Math.max(...settings.map((s) => s.key.length));
  for (const s of settings) if (s.source !== 'unset') say(`  ${s.key.padEnd(width)}  ${s.value}  (${s.source})`);
  let config: Config;
  try {
    config = loadConfig(opts);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    say(`\n${err.message}\n\nFix the settings above; nothing else was checked.`);
    return 1;
  }
  say('\nChecks:');
  const findings = [
    ...(await checkKafka(config)),
    ...(await checkPostgres(config)),
    ...(await checkRegistry(config)),
    ...(await checkKombo(config)),
  ];
  for (const f of findings) say(`  ${f.ok ? 'ok  ' : 'FAIL'}  ${f.part}: ${f.text}`);
  const problems = findings.filter((f) => !f.ok).length;
  say(problems ? `\n${problems} problem(s) found.` : '\nAll good.');
  return problems ? 1 : 0;
}
