import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { accessProblem, checkKafkaTls } from '../config/access.ts';
import type { Config } from '../config/config.ts';
import { driftAdminRoutes } from '../drift/admin.ts';
import { createDriftContext } from '../drift/context.ts';
import { adminRouter } from '../ingress/admin.ts';
import { komboClient } from '../kombo/client.ts';
import { createLogger, type Logger } from '../observability/log.ts';
import { createMetricsRegistry } from '../observability/metrics.ts';
import { SinkOffsets } from '../sink/offsets.ts';
import { migrate } from '../state/migrate.ts';
import { STATE_MIGRATIONS } from '../state/migrations.ts';
import { poolFor } from '../state/pool.ts';
import { StateStore } from '../state/store.ts';
import { kafkaClient, withDeadline } from '../topics/kafka.ts';
import { createSerde } from '../topics/serde-factory.ts';
import { topicSpecs } from '../topics/topology.ts';
import { buildAdminApp, buildPublicApp, listen } from './http.ts';
import type { Role, RoleDeps, RoleHealth, RunningRole } from './role.ts';
import { consumerLag } from './status.ts';

type Starter = (deps: RoleDeps) => Promise<RunningRole>;

/** Roles in start order; they stop in reverse (webhooks stop first, the sink drains last). */
const STARTERS: Record<Role, () => Promise<Starter>> = {
  sink: async () => (await import('../sink/role.ts')).startSink,
  fetcher: async () => (await import('../fetcher/role.ts')).startFetcher,
  planner: async () => (await import('../planner/role.ts')).startPlanner,
  ingress: async () => (await import('../ingress/role.ts')).startIngress,
};
const ORDER: Role[] = ['sink', 'fetcher', 'planner', 'ingress'];

export interface Runtime {
  readonly deps: RoleDeps;
  /** The internet-facing listener (webhooks). */
  readonly url: string;
  /** The internal listener (admin API, metrics, detailed health). */
  readonly adminUrl: string;
  health(): Record<string, RoleHealth>;
  /** The parts still stopping (during stop()). */
  stopping(): string[];
  stop(): Promise<void>;
}

/**
 * One process: shared clients (Kafka, Postgres, metrics, logger), the state schema migrated, the
 * HTTP server (health, metrics, webhooks, admin) and the requested roles.
 */
export async function startRuntime(
  config: Config,
  roles: readonly Role[],
  opts: { logger?: Logger; host?: string; clientId?: string } = {},
): Promise<Runtime> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetricsRegistry();
  const kafka = kafkaClient(config, opts.clientId ?? `kombo-stream-${hostname()}-${process.pid}`, {
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    logger,
  });
  const pool = poolFor(config, { max: 12 + config.fetcher.concurrency, logger });
  const topics = topicSpecs(config);
  let serde: RoleDeps['serde'];
  try {
    // Each dependency's refusal that retrying cannot fix (credentials, certificates) ends the start,
    // by name; anything else (not up yet) is retried by the caller.
    const named = (service: Parameters<typeof accessProblem>[0]) => (err: unknown) => {
      throw accessProblem(service, err) ?? err;
    };
    await migrate(pool, config.postgres.stateSchema, STATE_MIGRATIONS).catch(named('Postgres'));
    serde = await createSerde(config).catch(named('the Schema Registry'));
    await checkKafkaTls(config);
    await kafka
      .ensureTopics([topics.events, topics.tasks, topics.dlq, ...topics.records.values(), ...topics.changes.values()])
      .catch(named('Kafka'));
  } catch (err) {
    // A start that fails (Kafka or Postgres not there yet) is retried with new clients: these go.
    await kafka.close();
    await pool.end().catch(() => {});
    throw err;
  }
  const deps: RoleDeps = { config, logger, metrics, kafka, pool, serde };
  const store = new StateStore(pool, config.postgres.stateSchema);

  const running: RunningRole[] = [];
  const health: Record<string, RoleHealth> = Object.fromEntries(
    roles.map((r) => [r, { state: 'starting' } as RoleHealth]),
  );
  const adminProducer = config.http.adminToken ? kafka.producer() : undefined;
  // Onboarding through the admin API looks integrations up at Kombo.
  const adminClient = adminProducer && config.kombo.apiKey ? komboClient(config, 'to onboard') : undefined;
  const started = new Set<RunningRole>();
  const healthNow = () => {
    for (const r of started) health[r.role] = r.health();
    return health;
  };
  const publicApp = buildPublicApp({
    health: healthNow,
    // Role routes are resolved per request: the server is up (answering 503 on /healthz) before roles are.
    routers: [
      (req, res, next) => {
        const routers = [...started].flatMap((r) => r.routers ?? []);
        const run = (i: number): void => {
          const r = routers[i];
          if (r) r(req, res, () => run(i + 1));
          else next();
        };
        run(0);
      },
    ],
  });
  const adminApp = buildAdminApp({
    metrics,
    health: healthNow,
    probes: {
      kafka: () => kafka.ping(),
      postgres: async () => void (await pool.query('SELECT 1')),
    },
    routers: adminProducer
      ? [
          adminRouter({
            config,
            store,
            producer: adminProducer,
            extend: driftAdminRoutes(createDriftContext(deps, adminProducer)),
            lag: () => consumerLag(config, kafka, new SinkOffsets(pool, config.postgres.stateSchema)),
            ...(adminClient ? { client: adminClient } : {}),
          }),
        ]
      : [],
  });
  const server: Server = await listen(publicApp, config.http.port, opts.host ?? '0.0.0.0');
  const adminServer: Server = await listen(adminApp, config.http.adminPort, config.http.adminHost).catch(
    async (err: unknown) => {
      await new Promise((r) => server.close(r));
      throw err;
    },
  );
  let closing = false;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.shouldKeepAlive = false;
  });
  const portOf = (srv: Server, fallback: number) => {
    const a = srv.address();
    return typeof a === 'object' && a ? a.port : fallback;
  };
  const url = `http://127.0.0.1:${portOf(server, config.http.port)}`;
  const adminUrl = `http://${config.http.adminHost}:${portOf(adminServer, config.http.adminPort)}`;

  /** What is still stopping: named when a shutdown overruns its budget. */
  const pending = new Set<string>();
  const stopAll = async () => {
    const t = Date.now();
    // A keep-alive client that keeps sending (Kombo's webhook sender under load) keeps its connection
    // busy, and server.close() would wait for it forever: answers from now on close their connection,
    // and whatever is still open after a grace period is cut (an unanswered webhook is retried).
    closing = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), 2_000);
    await closed;
    clearTimeout(cut);
    logger.info({ ms: Date.now() - t }, 'http server closed');
    adminServer.closeAllConnections();
    await new Promise((r) => adminServer.close(r));
    // Webhooks first, the sink last (it drains what the others produced); the planner and the
    // fetcher stop side by side, so a broker that is down costs their close deadlines once, not twice.
    const stopRole = async (r: RunningRole) => {
      const t0 = Date.now();
      pending.add(r.role);
      try {
        await r.stop();
        logger.info({ role: r.role, ms: Date.now() - t0 }, 'role stopped');
      } catch (err) {
        logger.error({ err, role: r.role }, 'role did not stop cleanly');
      } finally {
        pending.delete(r.role);
      }
    };
    const byRole = (...names: Role[]) => running.filter((r) => names.includes(r.role));
    for (const stage of [byRole('ingress'), byRole('planner', 'fetcher'), byRole('sink')])
      await Promise.all(stage.map(stopRole));
    pending.add('clients');
    await adminProducer?.close();
    await adminClient?.close();
    await kafka.close();
    // A task abandoned at its deadline (stuck in a send to a broker that is down) still holds its
    // client, and the integration's advisory lock on it: pool.end() would wait for it for ever. The
    // connections close with the process, and Postgres releases the lock with them.
    await withDeadline(pool.end().catch(() => {}));
    pending.delete('clients');
  };
  try {
    for (const role of ORDER.filter((r) => roles.includes(r))) {
      const start = await STARTERS[role]();
      const r = await start(deps);
      running.push(r);
      started.add(r);
      logger.info({ role }, 'role started');
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    deps,
    url,
    adminUrl,
    stopping: () => [...pending],
    health: () => {
      for (const r of started) health[r.role] = r.health();
      return { ...health };
    },
    stop: stopAll,
  };
}
