/**
 * Every error we raise carries a stable `code` (safe to match on, never reused) and a `retriable`
 * flag that tells the caller whether trying again can help, in the manner of undici's UND_ERR_* and
 * fastify's FST_ERR_* classes. Messages are for humans and may change; codes may not.
 */
export class KomboStreamError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Configuration failed validation; `issues` names each bad key. Never retriable. */
export class ConfigError extends KomboStreamError {
  readonly issues: readonly { key: string; message: string }[];

  constructor(issues: readonly { key: string; message: string }[]) {
    super('KS_ERR_CONFIG', `invalid configuration:\n${issues.map((i) => `  - ${i.key}: ${i.message}`).join('\n')}`);
    this.issues = issues;
  }
}

/** The local Kafka / Postgres / registry stack could not be provisioned or started. */
export class LocalStackError extends KomboStreamError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super('KS_ERR_LOCAL_STACK', message, options);
  }
}

/** A confirmation of a mass-delete alert that is not (or no longer) open. */
export class NoDriftAlertError extends KomboStreamError {
  constructor(integrationId: string, endpoint: string) {
    super('KS_ERR_NO_DRIFT_ALERT', `no open drift alert for ${integrationId} ${endpoint}`);
  }
}

/** A confirmation refused because the records the alert would delete are no longer the ones it showed. */
export class DriftAlertChangedError extends KomboStreamError {
  constructor(message: string) {
    super('KS_ERR_DRIFT_ALERT_CHANGED', message);
  }
}

/** A confirmation refused while a full fetch of the endpoint is in flight: it will judge the same keys. */
export class FullFetchInFlightError extends KomboStreamError {
  constructor(integrationId: string, endpoint: string, runId: string) {
    super(
      'KS_ERR_FULL_FETCH_IN_FLIGHT',
      `a full fetch of ${integrationId} ${endpoint} is in flight (run ${runId}): nothing deleted; it judges the alert's records itself when it finishes`,
    );
  }
}

/** Another process holds the integration (a fetch, a drift pass, a purge): try again later. */
export class IntegrationBusyError extends KomboStreamError {
  constructor(integrationId: string) {
    super('KS_ERR_INTEGRATION_BUSY', `a fetch of ${integrationId} is running; try again when it has finished`, {
      retriable: true,
    });
  }
}

/** A fetch run was ended meanwhile (abandoned as stale, or its integration paused): its work stops. */
export class RunAbandonedError extends KomboStreamError {
  constructor(runId: string) {
    super('KS_ERR_RUN_ABANDONED', `fetch run ${runId} was ended meanwhile; its work stops here`);
  }
}

/** Kafka, Postgres or the registry refused us for a reason retrying cannot fix (credentials, TLS). */
export class AccessError extends KomboStreamError {
  constructor(service: string, problem: string, hint: string, cause: unknown) {
    super('KS_ERR_ACCESS', `${service}: ${problem}; ${hint}`, { cause });
  }
}

/** A command that does not migrate found no (or an older) connector state. */
export class StateNotReadyError extends KomboStreamError {
  constructor(message: string) {
    super('KS_ERR_STATE_NOT_READY', message);
  }
}

/** A topic the connector creates at start does not exist yet; commands that only use it do not create it. */
export class TopicMissingError extends KomboStreamError {
  constructor(topics: readonly string[]) {
    super(
      'KS_ERR_TOPIC_MISSING',
      `topic(s) ${topics.join(', ')} do not exist: start the connector once (kombo-stream start), which creates them`,
    );
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof KomboStreamError && err.retriable;
}

export function errorCode(err: unknown): string {
  if (err instanceof KomboStreamError) return err.code;
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'KS_ERR_UNKNOWN';
}
