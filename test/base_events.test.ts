// The loop's scheduling semantics: ready queue, timers, stop/close, run_until_complete, errors, debug.
// Timer logic runs on the virtual-time TestLoop; the same scheduling cases also run on a real loop per
// selector backend (which really blocks in its selector).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Future, RuntimeError, Task, TestLoop, TimeoutError, TimerHandle, get_event_loop, get_running_loop, sleep, type AbstractEventLoop, type Coroutine,
} from '../src/index.js';
import { backends, capture_logs } from './support/backends.js';

function with_loop(make: () => AbstractEventLoop, fn: (loop: AbstractEventLoop) => void): void {
  const loop = make();
  try {
    fn(loop);
  } finally {
    loop.close();
  }
}

const makers: Array<[string, () => AbstractEventLoop]> = [
  ['TestLoop', () => new TestLoop()],
  ...backends.map((b) => [b.name, b.make_loop] as [string, () => AbstractEventLoop]),
];

for (const [name, make] of makers) {
  test(`${name}: call_soon runs callbacks in FIFO order, with their arguments`, () => {
    with_loop(make, (loop) => {
      const seen: unknown[] = [];
      for (let i = 0; i < 5; i++) loop.call_soon((a: number, b: string) => seen.push([a, b]), i, 'x');
      loop.call_soon(() => loop.stop());
      loop.run_forever();
      assert.equal(seen, [[0, 'x'], [1, 'x'], [2, 'x'], [3, 'x'], [4, 'x']]);
    });
  });

  test(`${name}: a turn runs only what was ready when it began`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      loop.call_soon(() => {
        seen.push('a');
        loop.call_soon(() => seen.push('c'));
      });
      loop.call_soon(() => seen.push('b'));
      (loop as unknown as { _run_once(t: number): void })._run_once(0);
      assert.equal(seen, ['a', 'b']);
      (loop as unknown as { _run_once(t: number): void })._run_once(0);
      assert.equal(seen, ['a', 'b', 'c']);
    });
  });

  test(`${name}: timers fire in time order, equal times in registration order`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      const when = loop.time() + 0.02;
      loop.call_at(when, () => seen.push('t1'));
      loop.call_later(0.01, () => seen.push('early'));
      loop.call_at(when, () => seen.push('t2'));
      loop.call_at(when, () => seen.push('t3'));
      loop.call_at(when + 0.001, () => loop.stop());
      loop.run_forever();
      assert.equal(seen, ['early', 't1', 't2', 't3']);
    });
  });

  test(`${name}: call_later(<= 0) is queued FIFO with call_soon`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      loop.call_soon(() => seen.push('soon1'));
      const h = loop.call_later(0, () => seen.push('later0'));
      loop.call_later(-5, () => seen.push('later-5'));
      loop.call_soon(() => seen.push('soon2'));
      loop.stop();
      loop.run_forever();
      assert.ok(h instanceof TimerHandle);
      assert.equal(seen, ['soon1', 'later0', 'later-5', 'soon2']);
    });
  });

  test(`${name}: cancelled handles and timers do not run`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      loop.call_soon(() => seen.push('no')).cancel();
      const t = loop.call_later(0.001, () => seen.push('no timer'));
      t.cancel();
      assert.ok(t.cancelled);
      loop.call_later(0.002, () => loop.stop());
      loop.run_forever();
      assert.equal(seen, []);
    });
  });

  test(`${name}: stop() loses nothing: later callbacks run when the loop runs again`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      loop.call_soon(() => seen.push('before'));
      loop.call_soon(() => {
        loop.stop();
        loop.call_soon(() => seen.push('after stop'));
      });
      loop.call_soon(() => seen.push('queued before stop'));
      loop.run_forever();
      assert.equal(seen, ['before', 'queued before stop']);
      assert.not.ok(loop.is_running());
      loop.stop();
      loop.run_forever();
      assert.equal(seen, ['before', 'queued before stop', 'after stop']);
    });
  });

  test(`${name}: run_until_complete returns the result, rethrows the exception`, () => {
    with_loop(make, (loop) => {
      function* ok(): Coroutine<number> {
        yield* sleep(0.001, undefined, { loop });
        return 7;
      }
      function* bad(): Coroutine<number> {
        yield;
        throw new Error('boom');
      }
      assert.is(loop.run_until_complete(ok()), 7);
      assert.throws(() => loop.run_until_complete(bad()), /boom/);
      const f = new Future<string>({ loop });
      loop.call_soon(() => f.set_result('done'));
      assert.is(loop.run_until_complete(f), 'done');
    });
  });

  test(`${name}: run_until_complete with a timeout, or interrupted by stop(), raises TimeoutError`, () => {
    with_loop(make, (loop) => {
      const f = new Future<void>({ loop });
      assert.throws(() => loop.run_until_complete(f, 0.01), (e: unknown) => e instanceof TimeoutError);
      assert.not.ok(f.done(), 'the future is not cancelled');
      loop.call_soon(() => loop.stop());
      assert.throws(() => loop.run_until_complete(f), (e: unknown) => e instanceof TimeoutError && /stopped/.test(String(e)));
      f.set_result();
      loop.run_until_complete(f);
    });
  });

  test(`${name}: running a running loop, and closing it, are errors`, () => {
    with_loop(make, (loop) => {
      let nested: unknown, closing: unknown;
      loop.call_soon(() => {
        try {
          loop.run_forever();
        } catch (e) {
          nested = e;
        }
        try {
          loop.close();
        } catch (e) {
          closing = e;
        }
        loop.stop();
      });
      loop.run_forever();
      assert.ok(nested instanceof RuntimeError && /already running/.test(String(nested)));
      assert.ok(closing instanceof RuntimeError && /running/.test(String(closing)));
    });
  });

  test(`${name}: a closed loop refuses new work; close() is idempotent`, () => {
    const loop = make();
    loop.close();
    loop.close();
    assert.ok(loop.is_closed());
    assert.throws(() => loop.call_soon(() => {}), /closed/);
    assert.throws(() => loop.call_later(1, () => {}), /closed/);
    assert.throws(() => loop.call_at(1, () => {}), /closed/);
    assert.throws(() => loop.run_forever(), /closed/);
  });

  test(`${name}: a callback that throws is logged with its stack and the loop goes on`, () => {
    with_loop(make, (loop) => {
      const seen: string[] = [];
      const logs = capture_logs(() => {
        loop.call_soon(function exploding() {
          throw new Error('kaboom');
        });
        loop.call_soon(() => seen.push('still running'));
        loop.stop();
        loop.run_forever();
      });
      assert.equal(seen, ['still running']);
      assert.is(logs.length, 1);
      assert.is(logs[0]!.level, 'error');
      assert.match(logs[0]!.message, /Exception in callback exploding/);
      assert.match(String((logs[0]!.error as Error).stack), /kaboom/);
    });
  });

  test(`${name}: bad arguments get clear errors`, () => {
    with_loop(make, (loop) => {
      assert.throws(() => loop.call_soon(42 as never), /call_soon\(\) needs a function/);
      assert.throws(() => loop.call_later('1' as never, () => {}), /delay must be a number/);
      assert.throws(() => loop.call_later(NaN, () => {}), /delay must be a number/);
      assert.throws(() => loop.call_repeatedly(0, () => {}), /interval must be > 0/);
      assert.throws(() => loop.run_until_complete(42 as never), /Future or a coroutine is required/);
    });
  });
}

// ---- Timer logic on virtual time ----

test('TestLoop: time only moves when the loop would wait, and lands on the timer', () => {
  const loop = new TestLoop();
  try {
    const seen: number[] = [];
    loop.call_later(3600, () => seen.push(loop.time()));
    loop.call_later(1.5, () => seen.push(loop.time()));
    loop.run_until_complete(sleep(7200, undefined, { loop }));
    assert.equal(seen, [1.5, 3600]);
    assert.is(loop.time(), 7200);
  } finally {
    loop.close();
  }
});

test('TestLoop: advance_time + run_once steps through timers deterministically', () => {
  const loop = new TestLoop({ start: 100 });
  try {
    const seen: string[] = [];
    loop.call_later(10, () => seen.push('ten'));
    loop.advance_time(9.999);
    loop.run_once();
    assert.equal(seen, []);
    loop.advance_time(0.001);
    loop.run_once();
    assert.equal(seen, ['ten']);
    assert.throws(() => loop.advance_time(-1), /seconds >= 0/);
    assert.throws(() => loop.run_forever(), /wait forever/);
  } finally {
    loop.close();
  }
});

test('call_repeatedly: every interval until cancelled; a late call delays the next', () => {
  const loop = new TestLoop();
  try {
    const times: number[] = [];
    const h = loop.call_repeatedly(2, () => {
      times.push(loop.time());
      if (times.length === 2) loop.advance_time(0.5); // this call "takes" half a second
      if (times.length === 4) h.cancel();
    });
    loop.call_later(100, () => loop.stop());
    loop.run_forever();
    assert.equal(times, [2, 4, 6.5, 8.5]);
  } finally {
    loop.close();
  }
});

test('call_repeatedly: a callback that throws ends the chain (and is logged)', () => {
  const loop = new TestLoop();
  try {
    let calls = 0;
    const logs = capture_logs(() => {
      loop.call_repeatedly(1, () => {
        if (++calls === 3) throw new Error('third');
      });
      loop.call_later(10, () => loop.stop());
      loop.run_forever();
    });
    assert.is(calls, 3);
    assert.is(logs.length, 1);
  } finally {
    loop.close();
  }
});

test('100k timers: fire in order, cancelled ones are dropped and the heap compacts', () => {
  const loop = new TestLoop();
  try {
    const n = 100_000;
    let last = -1, fired = 0, out_of_order = 0;
    const handles: TimerHandle[] = [];
    for (let i = 0; i < n; i++) {
      const when = ((i * 7919) % n) / 1000; // a permutation of times
      handles.push(loop.call_at(when, () => {
        if (when < last) out_of_order++;
        last = when;
        fired++;
      }));
    }
    let live = 0;
    for (let i = 0; i < n; i++) {
      if (i % 3 === 0) live++;
      else handles[i]!.cancel();
    }
    const heap = (loop as unknown as { _scheduled: { size: number } })._scheduled;
    assert.ok(heap.size < 2 * live, `compacted: ${heap.size} entries left for ${live} live timers`);
    loop.call_at(n, () => loop.stop());
    loop.run_forever();
    assert.is(fired, live);
    assert.is(out_of_order, 0);
  } finally {
    loop.close();
  }
});

test('stop() before run_forever(): runs what was already queued, then stops', () => {
  const loop = new TestLoop();
  try {
    const seen: string[] = [];
    loop.call_soon(() => seen.push('a'));
    loop.stop();
    loop.call_soon(() => seen.push('b'));
    loop.run_forever();
    assert.equal(seen, ['a']);
  } finally {
    loop.close();
  }
});

test('debug mode: slow callbacks are reported with where they were scheduled', () => {
  const loop = new TestLoop();
  try {
    loop.set_debug(true);
    assert.ok(loop.get_debug());
    loop.slow_callback_duration = 0.5;
    const logs = capture_logs(() => {
      loop.call_soon(function slow() {
        loop.advance_time(1); // virtual time: this callback "took" one second
      });
      loop.call_soon(function quick() {});
      loop.stop();
      loop.run_forever();
    });
    assert.is(logs.length, 1);
    assert.match(logs[0]!.message, /Executing Handle\(slow\(\)\) took 1\.000 seconds/);
    assert.match(logs[0]!.message, /handle created at:\n.*base_events\.test\.ts/);
  } finally {
    loop.close();
  }
});

test('debug mode: an exception in a callback shows where the handle was created', () => {
  const loop = new TestLoop();
  try {
    loop.set_debug(true);
    const logs = capture_logs(() => {
      loop.call_soon(() => {
        throw new Error('x');
      });
      loop.stop();
      loop.run_forever();
    });
    assert.match(logs[0]!.message, /handle created at:\n.*base_events\.test\.ts/);
  } finally {
    loop.close();
  }
});

test('create_task runs a coroutine on the loop', () => {
  const loop = new TestLoop();
  try {
    const t = loop.create_task((function* () {
      yield* sleep(1, undefined, { loop });
      return 'ok';
    })());
    assert.ok(t instanceof Task);
    assert.is(loop.run_until_complete(t), 'ok');
  } finally {
    loop.close();
  }
});

test('inside a running loop, get_event_loop() is that loop, so sleep() needs no { loop }', () => {
  const loop = backends[0]!.make_loop();
  try {
    assert.is(get_running_loop(), null);
    let seen: unknown = null;
    const t0 = loop.time();
    loop.run_until_complete((function* () {
      seen = get_event_loop();
      yield* sleep(0.01);
    })());
    assert.is(seen, loop);
    assert.ok(loop.time() - t0 >= 0.01);
    assert.is(get_running_loop(), null, 'restored after run_forever returns');
  } finally {
    loop.close();
  }
});

test.run();
