import type { Config } from '../config/config.ts';
import { KomboStreamError } from '../errors.ts';
import { ROLES, type Role } from './role.ts';

export function parseRole(value: string): readonly Role[] {
  if (value === 'all') return ROLES;
  if ((ROLES as readonly string[]).includes(value)) return [value as Role];
  throw new KomboStreamError('KS_ERR_USAGE', `unknown role "${value}"; use all, ${ROLES.join(', ')}`);
}

export async function runStart(_config: Config, opts: { role: string }): Promise<number> {
  const roles = parseRole(opts.role);
  throw new KomboStreamError('KS_ERR_NOT_BUILT', `roles ${roles.join(', ')} are not part of this build yet`);
}
