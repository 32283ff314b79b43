// The ported examples run as smoke tests: each is a real program (importing 'tulip-ts' as a user would),
// run in its own process with arguments that make it finish, and its output is checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function run(example: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [tsx, join('examples', example), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, `${example} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

test('hello_callback prints Hello World the number of times asked', () => {
  assert.is(run('hello_callback.ts', '3', '0.01'), 'Hello World\n'.repeat(3));
});

test('hello_coroutine prints Hello World the number of times asked', () => {
  assert.is(run('hello_coroutine.ts', '3', '0.01'), 'Hello World\n'.repeat(3));
});

test('timers_wait_cancel: the fast worker wins, the others are cancelled and clean up', () => {
  const out = run('timers_wait_cancel.ts');
  assert.match(out, /done: fast's result/);
  assert.match(out, /slow: cancelled while sleeping/);
  assert.match(out, /slowest: cleaned up/);
  assert.match(out, /2 tasks cancelled/);
  assert.ok(out.indexOf('a plain timer callback fires') < out.indexOf('fast: finished'));
});

test('the npm start demo runs to the end', () => {
  const out = run('demo.ts');
  assert.match(out, /gather -> \[ 'a after 0.15 s', 'b after 0.05 s' \]/);
  assert.match(out, /future -> 42/);
  assert.match(out, /wait_for -> TimeoutError/);
  assert.match(out, /done; closing the loop/);
});

test.run();
