// The tutorial cannot rot: every ```ts block in docs/tutorial.md names its file on its first line
// (`// docs/examples/NAME.ts`), the block and the file must be the same, and each file runs to the end
// (importing 'tulip-ts' as a reader's program would: the package's self-reference, built by npm test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const tutorial = readFileSync(join(root, 'docs', 'tutorial.md'), 'utf8');
const blocks = [...tutorial.matchAll(/```ts\n([\s\S]*?)```\n/g)].map((m) => m[1]!);

test('every code block of the tutorial is the file it names, and every example file is in the tutorial', () => {
  assert.ok(blocks.length >= 10, `only ${blocks.length} blocks`);
  const named = new Set<string>();
  for (const block of blocks) {
    const m = /^\/\/ (docs\/examples\/[\w.]+\.ts)\n/.exec(block);
    assert.ok(m, `a block does not name its file:\n${block.slice(0, 200)}`);
    named.add(m![1]!);
    assert.is(readFileSync(join(root, m![1]!), 'utf8'), block, `${m![1]} differs from its block in the tutorial`);
  }
  const files = readdirSync(join(root, 'docs', 'examples')).map((f) => `docs/examples/${f}`);
  assert.equal(files.filter((f) => !named.has(f)), [], 'example files the tutorial does not show');
});

/** What each example must print (a part of its output is enough to show it did its job). */
const expected: Record<string, RegExp> = {
  '01_callbacks.ts': /^first\nsecond\na fifth of a second later\n$/,
  '02_futures.ts': /^done with 42\n42\n$/,
  '03_coroutines.ts': /^3\n$/,
  '04_tasks.ts': /^fast cleans up\nslow cleans up\n\[ 'fast' \]\n$/,
  '05_echo.ts': /^serving on port \d+\nechoed: hello\n$/,
  '06_pipes.ts': /^a line from a child process\n$/,
  '06_unix_sockets.ts': /^echoed: over a Unix socket\n$/,
  '07_signals.ts': /^signal 2: stopping\n$/,
  '07_subprocess.ts': /^wc says 13 - exit code 0\n$/,
  '08_test_loop.ts': /^3600\n$/,
  '09_streams.ts': /^HELLO\nSTREAMS\nat EOF: true\n$/,
  '10_locks_queues.ts': /^a in, a out, b in, b out\ntotal 21\n$/,
  '11_parsers.ts': /^\[ 'name', 'tulip' \]\n\[ 'year', '2013' \]\nend of stream\n$/,
  '12_http.ts': /^200 POST \/shout: HELLO\n200 POST \/shout: TULIP\nconnections made: 1\napplication\/json \{ hello: 'PEP 3156' \}\n405 Method Not Allowed GET\n$/,
  '12_websocket.ts': /^client: HELLO\nclient: WEBSOCKET\nserver: the client closed with 1000\nclient: closed with 1000\n$/,
};

for (const file of readdirSync(join(root, 'docs', 'examples')).sort()) {
  test(`docs/examples/${file} runs and prints what the tutorial says`, async () => {
    const child = spawn(process.execPath, [tsx, join('docs', 'examples', file)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code] = await once(child, 'exit');
    clearTimeout(timer);
    assert.is(code, 0, `${file} exited with ${code}: ${err}`);
    assert.ok(expected[file], `no expected output recorded for ${file}`);
    assert.match(out, expected[file]!);
  });
}

test.run();
