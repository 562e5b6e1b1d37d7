import { CronExpressionParser } from 'cron-parser';

/** The first occurrence of `cron` strictly after `after`. */
export function nextCronAfter(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().toDate();
}

/**
 * The schedule's period, as the gap between its next two occurrences: a manual full sync moves the
 * next scheduled one to now plus this (Kombo's own rule, applied to our drift schedule).
 */
export function cronPeriodMs(cron: string, timezone: string, from: Date): number {
  const it = CronExpressionParser.parse(cron, { currentDate: from, tz: timezone });
  const a = it.next().toDate().getTime();
  const b = it.next().toDate().getTime();
  return b - a;
}
