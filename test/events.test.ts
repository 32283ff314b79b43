// events.ts: the policy functions, Handle and TimerHandle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AbstractEventLoop, DefaultEventLoopPolicy, Handle, SelectorEventLoop, TestLoop, TimerHandle,
  get_event_loop, get_event_loop_policy, new_event_loop, set_event_loop, set_event_loop_policy,
  type AbstractEventLoopPolicy,
} from '../src/index.js';
import { capture_logs } from './support/backends.js';
import { start_ts_worker } from './support/workers.js';

test('get_event_loop creates one loop lazily in the main thread and keeps returning it', () => {
  set_event_loop_policy(null);
  const loop = get_event_loop();
  try {
    assert.ok(loop instanceof SelectorEventLoop);
    assert.is(get_event_loop(), loop);
  } finally {
    loop.close();
    set_event_loop(null);
  }
});

test('set_event_loop / new_event_loop; set_event_loop(null) lets get_event_loop create a new one', () => {
  const a = new_event_loop();
  const b = new_event_loop();
  try {
    assert.is.not(a, b);
    set_event_loop(a);
    assert.is(get_event_loop(), a);
    set_event_loop(null);
    const c = get_event_loop();
    assert.is.not(c, a);
    c.close();
    set_event_loop(null);
    assert.throws(() => set_event_loop({} as never), /event loop or null/);
  } finally {
    a.close();
    b.close();
  }
});

test('set_event_loop_policy: a custom policy is used; null restores a DefaultEventLoopPolicy', () => {
  const made: AbstractEventLoop[] = [];
  const custom: AbstractEventLoopPolicy = {
    get_event_loop: () => made[0]!,
    set_event_loop: () => {},
    new_event_loop: () => {
      const l = new TestLoop();
      made.push(l);
      return l;
    },
  };
  set_event_loop_policy(custom);
  try {
    assert.is(get_event_loop_policy(), custom);
    const l = new_event_loop();
    assert.ok(l instanceof TestLoop);
    assert.is(get_event_loop(), l);
  } finally {
    for (const l of made) l.close();
    set_event_loop_policy(null);
  }
  assert.ok(get_event_loop_policy() instanceof DefaultEventLoopPolicy);
  assert.throws(() => set_event_loop_policy({} as never), /get_event_loop\(\)/);
});

test('in a worker thread the default policy does not create a loop', async () => {
  const worker = start_ts_worker(new URL('./support/policy_worker.ts', import.meta.url));
  const reply = await new Promise<{ message: string; same: boolean }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.match(reply.message, /RuntimeError: There is no current event loop in this worker thread/);
  assert.ok(reply.same);
});

test('Handle: attributes, cancel, and the PEP\'s Handle-as-callback', () => {
  const loop = new TestLoop();
  try {
    const seen: unknown[] = [];
    const fn = (a: number, b: number) => seen.push(a + b);
    const h = loop.call_soon(fn, 1, 2);
    assert.ok(h instanceof Handle);
    assert.is(h.callback, fn);
    assert.equal(h.args, [1, 2]);
    assert.is(h.cancelled, false);
    const prepared = new Handle(fn, [10, 20]);
    assert.is(loop.call_soon(prepared), prepared);
    assert.throws(() => loop.call_soon(prepared as never, 1 as never), /cannot take arguments/);
    const dead = new Handle(fn, [100, 0]);
    dead.cancel();
    loop.call_soon(dead);
    loop.stop();
    loop.run_forever();
    assert.equal(seen, [3, 30]);
    assert.match(String(h), /^Handle\(fn\(\)\)$/);
  } finally {
    loop.close();
  }
});

test('TimerHandle: when, cancel, repr', () => {
  const loop = new TestLoop({ start: 5 });
  try {
    const t = loop.call_later(2, function tick() {});
    assert.ok(t instanceof TimerHandle);
    assert.is(t.when, 7);
    assert.match(String(t), /TimerHandle\(when=7\.000, tick\(\)\)/);
    t.cancel();
    t.cancel();
    assert.match(String(t), /cancelled/);
  } finally {
    loop.close();
  }
});

test('a throwing log handler cannot break the loop', () => {
  const loop = new TestLoop();
  try {
    let after = false;
    capture_logs(() => {}); // sanity: capture restores the handler
    loop.call_soon(() => {
      throw new Error('x');
    });
    loop.call_soon(() => (after = true));
    loop.stop();
    const logs = capture_logs(() => loop.run_forever());
    assert.ok(after);
    assert.is(logs.length, 1);
  } finally {
    loop.close();
  }
});

test.run();
