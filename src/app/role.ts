import type { Router } from 'express';
import type pg from 'pg';
import type { Config } from '../config/config.ts';
import type { Logger } from '../observability/log.ts';
import type { Registry } from '../observability/metrics.ts';
import type { KafkaClient } from '../topics/kafka.ts';
import type { RecordSerde } from '../topics/serde.ts';

export const ROLES = ['ingress', 'planner', 'fetcher', 'sink'] as const;
export type Role = (typeof ROLES)[number];

/** What every role receives from the process that runs it; roles create nothing of this themselves. */
export interface RoleDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly kafka: KafkaClient;
  readonly pool: pg.Pool;
  readonly serde: RecordSerde;
}

export interface RoleHealth {
  /** starting: not yet serving; ok: serving; failed: broken beyond self-repair. */
  readonly state: 'starting' | 'ok' | 'failed';
  readonly detail?: string;
}

/** A started role. `stop` stops taking work, finishes or hands back what is in flight, and commits. */
export interface RunningRole {
  readonly role: Role;
  /** HTTP routes the role contributes to the process's server (webhooks, admin). */
  readonly routers?: readonly Router[];
  health(): RoleHealth;
  stop(): Promise<void>;
}
