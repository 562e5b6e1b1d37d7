import type { EndpointName } from '../kombo/endpoints.ts';

/**
 * The simulator's compact record state. Only identity, version, timestamps and relations are stored;
 * every other field is regenerated from (integration seed, kind, idx, version), so a million records
 * fit in a few hundred MB.
 */
export interface Entity {
  readonly kind: EndpointName;
  /** Insertion order within its endpoint: the pagination order, like a database primary key. */
  readonly seq: number;
  /** Generator index: with the version, it determines every generated field. */
  readonly idx: number;
  readonly id: string;
  readonly remoteId: string;
  /** Version of the record's own fields; bumped by an own-field update. */
  v: number;
  /** Own changed_at (ms). */
  c: number;
  /** Latest change of nested data that updated_after on this endpoint must match (ms, 0 = none). */
  t: number;
  /** remote_deleted_at (ms, 0 = not deleted). */
  d: number;
  /** When the record disappeared from the upstream tool (ms, 0 = still there): Kombo marks it deleted
   * (d) only when a sync that detects deletions (a full one) notices. */
  g: number;
  readonly createdAt: number;
  rel: Relations;
}

export interface Relations {
  employee?: Entity;
  manager?: Entity | null;
  legalEntity?: Entity | null;
  location?: Entity | null;
  parent?: Entity | null;
  type?: Entity | null;
  groups?: Entity[];
  candidate?: Entity | null;
  job?: Entity | null;
  stage?: Entity | null;
  application?: Entity | null;
  stages?: Entity[];
  users?: Entity[];
  tags?: Entity[];
  /** Staffing entities' places and legal entities (their groups are `groups`). */
  locations?: Entity[];
  legalEntities?: Entity[];
  /** A performance review's reviewer (the reviewee is `employee`) and cycle. */
  reviewer?: Entity | null;
  cycle?: Entity | null;
  /** A user's system role; a job's roles for its hiring team (the first for the first member, ...). */
  role?: Entity | null;
  roles?: Entity[];
  /** A note's author. */
  author?: Entity | null;
  // Reverse relations, kept so nested lists render without scanning.
  employments?: Entity[];
  balances?: Entity[];
  applications?: Entity[];
  interviews?: Entity[];
  offers?: Entity[];
}

export class EndpointStore {
  readonly list: Entity[] = [];
  readonly byId = new Map<string, Entity>();
  readonly byRemoteId = new Map<string, Entity>();
  #nextSeq = 1;
  #purged = 0;

  nextSeq(): number {
    return this.#nextSeq++;
  }

  add(e: Entity): void {
    this.list.push(e);
    this.byId.set(e.id, e);
    this.byRemoteId.set(e.remoteId, e);
  }

  /** Removes the record for good (Kombo anonymises deleted records after a while). */
  purge(e: Entity): void {
    this.byId.delete(e.id);
    this.byRemoteId.delete(e.remoteId);
    this.#purged++;
    // Compact lazily: the list keeps purged entries until they are a sizeable share.
    if (this.#purged > 64 && this.#purged * 4 > this.list.length) {
      const live = this.list.filter((x) => this.byId.get(x.id) === x);
      this.list.length = 0;
      this.list.push(...live);
      this.#purged = 0;
    }
  }

  has(e: Entity): boolean {
    return this.byId.get(e.id) === e;
  }

  /** Index of the first entity with seq > afterSeq (binary search: seq is increasing). */
  indexAfter(afterSeq: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.list[mid] as Entity).seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  *live(): Iterable<Entity> {
    for (const e of this.list) if (this.byId.get(e.id) === e) yield e;
  }
}
