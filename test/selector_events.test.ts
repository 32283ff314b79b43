// SelectorEventLoop's I/O callbacks and wake-up fd, on every selector backend, with real pipes; the loop
// really blocks in its selector.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binding } from '../src/binding.js';
import { Future, Handle, SelectorEventLoop, new_event_loop } from '../src/index.js';
import { backends, make_pipe, open_fds, write_byte } from './support/backends.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

for (const { name, make_loop } of backends) {
  test(`${name}: add_reader fires while the fd is readable; remove_reader stops it`, () => {
    const loop = make_loop();
    const p = make_pipe();
    try {
      const got: number[] = [];
      const buf = new Uint8Array(16);
      const h = loop.add_reader(p.r, (tag: string) => {
        got.push(binding.read(p.r, buf, 0, 16));
        assert.is(tag, 'tag');
        if (got.length === 2) loop.stop();
        else write_byte(p.w);
      }, 'tag');
      assert.ok(h instanceof Handle);
      loop.call_soon(write_byte, p.w);
      loop.run_forever();
      assert.equal(got, [1, 1]);
      assert.is(loop.remove_reader(p.r), true);
      assert.is(loop.remove_reader(p.r), false);
      assert.ok(h.cancelled, 'remove_reader cancels the handle');
    } finally {
      loop.close();
      p.close();
    }
  });

  test(`${name}: add_writer on a pipe, then reader and writer on one fd independently`, () => {
    const loop = make_loop();
    const p = make_pipe();
    try {
      const seen: string[] = [];
      loop.add_writer(p.w, () => {
        seen.push('writable');
        loop.remove_writer(p.w);
        write_byte(p.w);
      });
      loop.add_reader(p.r, () => {
        seen.push('readable');
        loop.remove_reader(p.r);
        loop.stop();
      });
      loop.run_forever();
      assert.equal(seen, ['writable', 'readable']);
      assert.is(loop.remove_writer(p.w), false);
      // Same fd for both directions (a socket would be typical); a socketpair end is both.
      const pair = binding.socketpair(binding.constants.AF_UNIX, binding.constants.SOCK_STREAM, 0) as [number, number];
      try {
        const both: string[] = [];
        loop.add_reader(pair[0], () => {
          both.push('r');
          loop.remove_reader(pair[0]);
          loop.stop();
        });
        loop.add_writer(pair[0], () => {
          both.push('w');
          loop.remove_writer(pair[0]);
          write_byte(pair[1]);
        });
        loop.run_forever();
        assert.equal(both, ['w', 'r']);
      } finally {
        binding.close(pair[0]);
        binding.close(pair[1]);
      }
    } finally {
      loop.close();
      p.close();
    }
  });

  test(`${name}: add_reader again replaces the callback`, () => {
    const loop = make_loop();
    const p = make_pipe();
    try {
      const seen: string[] = [];
      const first = loop.add_reader(p.r, () => seen.push('first'));
      loop.add_reader(p.r, () => {
        seen.push('second');
        loop.stop();
      });
      assert.ok(first.cancelled);
      write_byte(p.w);
      loop.run_forever();
      assert.equal(seen, ['second']);
      loop.remove_reader(p.r);
    } finally {
      loop.close();
      p.close();
    }
  });

  test(`${name}: a worker thread wakes a loop blocked in its selector through the wake-up fd`, () => {
    const loop = make_loop() as SelectorEventLoop;
    try {
      // A far timer makes the selector block; only the wake-up can end that wait early.
      const far = loop.call_later(30, () => {});
      const worker = new Worker(
        `const { workerData } = require('node:worker_threads');
         const binding = require('node-gyp-build')(workerData.root);
         binding.wakeup_signal(workerData.fd);`,
        { eval: true, workerData: { root, fd: loop._wakeup_w } },
      );
      const t0 = performance.now();
      loop._run_once(); // nothing is ready: this turn blocks in the selector until woken
      assert.ok(performance.now() - t0 < 20_000, 'the loop woke long before its 30 s timer');
      far.cancel();
      void worker.terminate();
    } finally {
      loop.close();
    }
  });

  test(`${name}: call_soon_threadsafe wakes the loop and runs the callback`, () => {
    const loop = make_loop();
    try {
      const f = new Future<string>({ loop });
      loop.call_soon(() => loop.call_soon_threadsafe(() => f.set_result('woken')));
      assert.is(loop.run_until_complete(f, 5), 'woken');
    } finally {
      loop.close();
    }
  });

  test(`${name}: bad arguments`, () => {
    const loop = make_loop();
    try {
      assert.throws(() => loop.add_reader(-3, () => {}), /Invalid file descriptor/);
      assert.throws(() => loop.add_reader(0, 'x' as never), /add_reader\(\) needs a function/);
      assert.throws(() => loop.add_writer({} as never, () => {}), (e: unknown) => e instanceof TypeError);
    } finally {
      loop.close();
    }
  });
}

test('closing loops leaks no file descriptors', () => {
  const before = open_fds();
  for (const { make_loop } of backends) {
    for (let i = 0; i < 20; i++) {
      const loop = make_loop();
      loop.call_soon(() => loop.stop());
      loop.run_forever();
      loop.close();
    }
  }
  const loop = new_event_loop();
  loop.close();
  assert.equal([...open_fds()].filter((fd) => !before.has(fd)), []);
});

test.run();
