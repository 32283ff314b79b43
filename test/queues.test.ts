// Queues (coroutines/queues.ts): Tulip's queues_test cases on virtual time, plus the cancellation races.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CancelledError, JoinableQueue, LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull, Task, TestLoop,
  python_compare, sleep, type Coroutine,
} from '../src/index.js';
import { throws_a } from './support/asserts.js';
import { test_loop_each } from './support/loops.js';

let loop: TestLoop;
test_loop_each(test, (l) => (loop = l));

function settle(turns = 5): void {
  for (let i = 0; i < turns; i++) loop.run_once();
}


test('Queue: toString, empty, full, maxsize', () => {
  const q = new Queue<number>(2, { loop });
  assert.is(String(q), '<Queue maxsize=2>');
  assert.is(q.maxsize, 2);
  assert.is(q.empty(), true);
  q.put_nowait(1);
  assert.is(q.empty(), false);
  assert.is(q.full(), false);
  q.put_nowait(2);
  assert.is(q.full(), true);
  assert.is(q.qsize(), 2);
  assert.match(String(q), /_queue=\[1,2\]/);
  const unbounded = new Queue<number>(0, { loop });
  for (let i = 0; i < 100; i++) unbounded.put_nowait(i);
  assert.is(unbounded.full(), false);
});

test('Queue: FIFO order, through the O(1) deque compaction', () => {
  const q = new Queue<number>(0, { loop });
  const out: number[] = [];
  for (let i = 0; i < 200; i++) q.put_nowait(i);
  for (let i = 0; i < 150; i++) out.push(q.get_nowait());
  for (let i = 200; i < 300; i++) q.put_nowait(i);
  while (!q.empty()) out.push(q.get_nowait());
  assert.equal(out, Array.from({ length: 300 }, (_, i) => i));
});

test('Queue: put blocks while the queue is full (maxsize)', () => {
  const q = new Queue<number>(2, { loop });
  const have: number[] = [];
  const producer = new Task((function* () {
    for (let i = 0; i < 3; i++) {
      yield* q.put(i);
      have.push(i);
    }
  })(), { loop });
  settle();
  assert.equal(have, [0, 1]);
  assert.is(q._putters.length, 1);
  assert.is(q.get_nowait(), 0);
  loop.run_until_complete(producer);
  assert.equal(have, [0, 1, 2]);
  assert.equal([q.get_nowait(), q.get_nowait()], [1, 2]);
});

test('Queue: get returns at once when an item is there, waits for one otherwise', () => {
  const q = new Queue<string>(0, { loop });
  q.put_nowait('a');
  assert.is(loop.run_until_complete(q.get()), 'a');
  loop.call_later(0.01, () => q.put_nowait('b'));
  assert.is(loop.run_until_complete(q.get()), 'b');
  assert.is(loop.time(), 0.01);
});

test('Queue: get_nowait on an empty queue and put_nowait on a full one raise', () => {
  const q = new Queue<number>(1, { loop });
  throws_a(() => q.get_nowait(), QueueEmpty, /empty/);
  q.put_nowait(1);
  throws_a(() => q.put_nowait(2), QueueFull, /full/);
});

test('Queue: get with a timeout raises QueueEmpty after exactly that long', () => {
  const q = new Queue<number>(0, { loop });
  throws_a(() => loop.run_until_complete(q.get({ timeout: 0.5 })), QueueEmpty, /timed out/);
  assert.is(loop.time(), 0.5);
  assert.is(q._getters.length, 0);
  loop.call_later(0.1, () => q.put_nowait(7));
  assert.is(loop.run_until_complete(q.get({ timeout: 1 })), 7);
});

test('Queue: put with a timeout raises QueueFull; the item is not added', () => {
  const q = new Queue<number>(1, { loop });
  q.put_nowait(1);
  throws_a(() => loop.run_until_complete(q.put(2, { timeout: 0.5 })), QueueFull, /timed out/);
  assert.is(q.qsize(), 1);
  assert.is(q._putters.length, 0);
  loop.call_later(0.1, () => q.get_nowait());
  loop.run_until_complete(q.put(3, { timeout: 1 }));
  assert.is(q.get_nowait(), 3);
});

test('Queue: a cancelled get and put raise CancelledError (not QueueEmpty/QueueFull)', () => {
  const q = new Queue<number>(1, { loop });
  const g = new Task(q.get({ timeout: 10 }), { loop });
  loop.call_later(1, () => g.cancel());
  throws_a(() => loop.run_until_complete(g), CancelledError);
  assert.is(q._getters.length, 0);
  q.put_nowait(1);
  const p = new Task(q.put(2), { loop });
  loop.call_later(1, () => p.cancel());
  throws_a(() => loop.run_until_complete(p), CancelledError);
  assert.is(q._putters.length, 0);
  assert.equal(q.get_nowait(), 1);
  assert.is(q.empty(), true);
});

test('Queue race: a getter cancelled after being woken loses no item, the next getter gets it', () => {
  const q = new Queue<string>(0, { loop });
  const g1 = new Task(q.get(), { loop });
  const g2 = new Task(q.get(), { loop });
  settle();
  q.put_nowait('x'); // wakes g1 ...
  g1.cancel(); // ... which is cancelled before it runs
  settle();
  assert.is(g1.cancelled(), true);
  assert.is(g2.result(), 'x');
  assert.is(q.empty(), true);
  assert.is(q._getters.length, 0);
});

test('Queue race: the only getter cancelled after being woken leaves the item queued', () => {
  const q = new Queue<string>(0, { loop });
  const g = new Task(q.get(), { loop });
  settle();
  q.put_nowait('kept');
  g.cancel();
  settle();
  assert.is(g.cancelled(), true);
  assert.is(q.get_nowait(), 'kept');
});

test('Queue race: a putter cancelled after a slot freed passes the slot to the next putter', () => {
  const q = new Queue<number>(1, { loop });
  q.put_nowait(0);
  const p1 = new Task(q.put(1), { loop });
  const p2 = new Task(q.put(2), { loop });
  settle();
  assert.is(q.get_nowait(), 0); // wakes p1 ...
  p1.cancel(); // ... cancelled before it runs
  settle();
  assert.is(p1.cancelled(), true);
  assert.is(p2.done(), true);
  assert.equal([q.get_nowait(), q.qsize()], [2, 0]);
});

test('Queue: getters are served in FIFO order; a woken getter beaten to the item keeps its place', () => {
  const q = new Queue<number>(0, { loop });
  const got: string[] = [];
  function* getter(name: string): Coroutine<void> {
    got.push(`${name}:${yield* q.get()}`);
  }
  new Task(getter('a'), { loop });
  new Task(getter('b'), { loop });
  settle();
  q.put_nowait(1);
  assert.is(q.get_nowait(), 1); // someone else takes it before 'a' runs
  settle();
  q.put_nowait(2);
  q.put_nowait(3);
  settle();
  assert.equal(got, ['a:2', 'b:3']);
});

test('Queue: producers and consumers alternate through a bounded queue', () => {
  const q = new Queue<number>(1, { loop });
  const got: number[] = [];
  const producer = new Task((function* () {
    for (let i = 0; i < 5; i++) yield* q.put(i);
  })(), { loop });
  const consumer = new Task((function* () {
    for (let i = 0; i < 5; i++) {
      got.push(yield* q.get());
      yield* sleep(1, undefined, { loop });
    }
  })(), { loop });
  loop.run_until_complete(consumer);
  assert.is(producer.done(), true);
  assert.equal(got, [0, 1, 2, 3, 4]);
});

test('LifoQueue: last in, first out', () => {
  const q = new LifoQueue<number>(0, { loop });
  for (const i of [1, 3, 2]) q.put_nowait(i);
  assert.equal([q.get_nowait(), q.get_nowait(), q.get_nowait()], [2, 3, 1]);
});

test('PriorityQueue: lowest first; tuples compared element by element', () => {
  const q = new PriorityQueue<number>(0, { loop });
  for (const i of [1, 3, 2]) q.put_nowait(i);
  assert.equal([q.get_nowait(), q.get_nowait(), q.get_nowait()], [1, 2, 3]);
  const t = new PriorityQueue<[number, string]>(0, { loop });
  const entries: Array<[number, string]> = [[2, 'b'], [1, 'z'], [2, 'a'], [0, 'x'], [1, 'y']];
  for (const e of entries) t.put_nowait(e);
  const out: string[] = [];
  while (!t.empty()) out.push(t.get_nowait()[1]);
  assert.equal(out, ['x', 'y', 'z', 'a', 'b']);
});

test('PriorityQueue: heap order over many random items; a custom comparator', () => {
  const q = new PriorityQueue<number>(0, { loop });
  const xs = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1009);
  for (const x of xs) q.put_nowait(x);
  const out: number[] = [];
  while (!q.empty()) out.push(q.get_nowait());
  assert.equal(out, [...xs].sort((a, b) => a - b));
  const max = new PriorityQueue<number>(0, { loop, compare: (a, b) => b - a });
  for (const x of [1, 5, 3]) max.put_nowait(x);
  assert.is(max.get_nowait(), 5);
});

test('python_compare: prefixes first; unordered mixes are TypeErrors that leave the heap intact', () => {
  assert.ok(python_compare([1, 2], [1, 2, 0]) < 0);
  assert.ok(python_compare('b', 'a') > 0);
  assert.is(python_compare([1, 'a'], [1, 'a']), 0);
  throws_a(() => python_compare(1, 'a'), TypeError, /compare option/);
  const q = new PriorityQueue<unknown>(0, { loop });
  q.put_nowait(1);
  throws_a(() => q.put_nowait('a'), TypeError);
  assert.is(q.qsize(), 1);
});

test('JoinableQueue: task_done called too often is a clear error', () => {
  const q = new JoinableQueue<number>(0, { loop });
  throws_a(() => q.task_done(), RangeError, /too many times/);
});

test('JoinableQueue: join waits until every item is done', () => {
  const q = new JoinableQueue<number>(0, { loop });
  for (let i = 1; i <= 100; i++) q.put_nowait(i);
  let total = 0;
  function* worker(): Coroutine<void> {
    for (;;) {
      const item = yield* q.get();
      yield* sleep(0.01, undefined, { loop });
      total += item;
      q.task_done();
    }
  }
  const workers = [new Task(worker(), { loop }), new Task(worker(), { loop })];
  assert.match(String(q), /tasks=100/);
  assert.is(loop.run_until_complete(q.join()), true);
  assert.is(total, 5050);
  for (const w of workers) w.cancel();
  settle();
  for (const w of workers) assert.is(w.cancelled(), true);
});

test('JoinableQueue: join on an empty queue returns at once; join with a timeout returns false', () => {
  const q = new JoinableQueue<number>(0, { loop });
  assert.is(loop.run_until_complete(q.join()), true);
  q.put_nowait(1);
  q.get_nowait();
  assert.is(loop.run_until_complete(q.join({ timeout: 0.1 })), false);
  assert.is(loop.time(), 0.1);
  q.task_done();
  assert.is(loop.run_until_complete(q.join()), true);
});

test.run();
