// Runs every test/*.test.ts file in its own process (a crash or a hang in one cannot hide the others),
// two at a time, prints each file's uvu report, and ends with the one line CI reads: `N passed, N failed`.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const files = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
const PER_FILE_LIMIT_MS = 5 * 60 * 1000;
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

interface Outcome { file: string; passed: number; failed: number; output: string }

function run(file: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', tsx, join('test', file)], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[run-tests] ${file} did not finish in ${PER_FILE_LIMIT_MS / 1000} s: killed\n`;
      child.kill('SIGKILL');
    }, PER_FILE_LIMIT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      let failed = total - passed - skipped;
      // A file that crashed, hung or exited non-zero without a failing test still counts as one failure.
      if (failed === 0 && (code !== 0 || total === 0)) failed = 1;
      resolve({ file, passed, failed, output });
    });
  });
}

const queue = [...files];
const outcomes: Outcome[] = [];
async function worker(): Promise<void> {
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const outcome = await run(file);
    outcomes.push(outcome);
    process.stdout.write(`\n=== ${file}: ${outcome.passed} passed, ${outcome.failed} failed\n${outcome.output.trim()}\n`);
  }
}
await Promise.all([worker(), worker()]);

const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
const bad = outcomes.filter((o) => o.failed > 0).map((o) => o.file);
if (bad.length > 0) process.stdout.write(`\nfailing files: ${bad.join(', ')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;
