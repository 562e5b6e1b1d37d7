import type { EndpointName } from '../kombo/endpoints.ts';

/** Topic names are part of the public contract; every topic name is built here. */
export function recordTopic(prefix: string, endpoint: EndpointName): string {
  return `${prefix}.${endpoint.replace('/', '.')}`;
}
/** Change events of a record topic: `<prefix>.hris.employees.changes`. */
export const changesTopic = (prefix: string, endpoint: EndpointName) => `${recordTopic(prefix, endpoint)}.changes`;
export const eventsTopic = (prefix: string) => `${prefix}.events`;
export const tasksTopic = (prefix: string) => `${prefix}.tasks`;
export const dlqTopic = (prefix: string) => `${prefix}.dlq`;

/**
 * Consumer group of a role; more processes of a role join the same group. With the default prefix
 * the groups are `kombo-stream.<role>`; another prefix (a second connector on the same cluster, or
 * a test) gets its own groups, so two deployments never share partitions.
 */
export function groupId(prefix: string, role: 'planner' | 'fetcher' | 'sink'): string {
  return prefix === 'kombo' ? `kombo-stream.${role}` : `kombo-stream.${prefix}.${role}`;
}
