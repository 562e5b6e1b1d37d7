import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Kombo signs each webhook with HMAC-SHA256 over the raw body bytes, keyed by the webhook secret as a
 * UTF-8 string, digested as base64url without padding, sent bare in X-Kombo-Signature
 * (kombo-api.md §5). There is no timestamp: replays verify, and are deduplicated by event id.
 */
export const SIGNATURE_HEADER = 'x-kombo-signature';

export function signWebhook(secret: string, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64url');
}

/**
 * True when `signature` matches the body under any of `secrets` (several are accepted so a secret can
 * be rotated). Every secret is checked, in constant time per comparison, so timing reveals neither
 * which secret matched nor how much of a signature was right.
 */
export function verifyWebhook(secrets: readonly string[], rawBody: Buffer, signature: string | undefined): boolean {
  if (!signature || secrets.length === 0) return false;
  const got = Buffer.from(signature, 'utf8');
  let ok = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signWebhook(secret, rawBody), 'utf8');
    // Equal lengths are required by timingSafeEqual; comparing against itself keeps the work constant.
    const same = got.length === expected.length && timingSafeEqual(got, expected);
    ok = ok || same;
  }
  return ok;
}
