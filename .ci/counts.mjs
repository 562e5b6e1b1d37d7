// Prints "N passed, N failed" from vitest's JSON results and exits non-zero if any failed. A test file
// that failed outside any test (an import or hook error) counts as one failure, since vitest's own
// numFailedTests does not count it.
import { readFileSync } from 'node:fs';

let r;
try {
  r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (err) {
  console.log(`0 passed, 1 failed (no vitest results: ${err.message})`);
  process.exit(1);
}
const files = r.testResults ?? [];
const fileErrors = files.filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
const failed = r.numFailedTests + fileErrors;
console.log(`${r.numPassedTests} passed, ${failed} failed`);
process.exit(failed > 0 || r.success === false ? 1 : 0);
