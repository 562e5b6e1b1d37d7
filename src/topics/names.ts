import type { EndpointName } from '../kombo/endpoints.ts';

/** Topic names are part of the public contract; every topic name is built here. */
export function recordTopic(prefix: string, endpoint: EndpointName): string {
  return `${prefix}.${endpoint.replace('/', '.')}`;
}
export const eventsTopic = (prefix: string) => `${prefix}.events`;
export const tasksTopic = (prefix: string) => `${prefix}.tasks`;
export const dlqTopic = (prefix: string) => `${prefix}.dlq`;

/** Consumer groups, one per role; more processes of a role join the same group. */
export const groups = {
  planner: 'kombo-stream.planner',
  fetcher: 'kombo-stream.fetcher',
  sink: 'kombo-stream.sink',
} as const;
