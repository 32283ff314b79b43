// The streams example as a smoke test: examples/simple_tcp_server.ts runs as a real program (importing
// 'tulip-ts' as a user would) in its own process; its server and client talk over 127.0.0.1 and the
// conversation it prints is checked. The child is started with the asynchronous spawn(), in its own
// process group (tsx runs the example in a grandchild), and killed through it if the test fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const DEADLINE_MS = 60_000;

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs an example to its end (or kills it at the deadline) and returns what it printed. */
function run_example(name: string, ...args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [tsx, join('examples', name), ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf-8')));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf-8')));
    const kill = (): void => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(kill, DEADLINE_MS);
    process.once('exit', kill);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      process.off('exit', kill);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('simple_tcp_server: the client adds, repeats, and the server sees its task end', async () => {
  const out = await run_example('simple_tcp_server.ts', '0');
  const about = `exit ${out.code} ${out.signal}\n--- stdout:\n${out.stdout}\n--- stderr:\n${out.stderr}`;
  assert.equal([out.code, out.signal], [0, null], about);
  const lines = ['> add 1 2', '< 3.0', '> repeat 5 hello', '< begin'];
  for (let i = 1; i <= 5; i++) lines.push(`< ${i}. hello`);
  lines.push('< end');
  assert.is(out.stdout, lines.join('\n') + '\n', about);
  assert.match(out.stderr, /^client task done: Task<result=undefined>$/m, about);
});

test.run();
