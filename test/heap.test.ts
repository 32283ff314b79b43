// TimerHeap (src/heap.ts): min-heap by due time, FIFO for equal times, lazy removal of cancelled timers,
// compaction when the dead dominate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TimerHeap } from '../src/heap.js';

interface FakeTimer {
  _when: number;
  _seq: number;
  _cancelled: boolean;
  name: string;
}

let seq = 0;
function timer(when: number, name = String(when)): FakeTimer {
  return { _when: when, _seq: seq++, _cancelled: false, name };
}

function drain(heap: TimerHeap<FakeTimer>): string[] {
  const out: string[] = [];
  for (let t = heap.pop(); t !== undefined; t = heap.pop()) out.push(t.name);
  return out;
}

function cancel(heap: TimerHeap<FakeTimer>, t: FakeTimer): void {
  t._cancelled = true;
  heap.note_cancelled();
}

test('an empty heap: size 0, peek and pop give undefined', () => {
  const heap = new TimerHeap<FakeTimer>();
  assert.is(heap.size, 0);
  assert.is(heap.cancelled_count, 0);
  assert.is(heap.peek(), undefined);
  assert.is(heap.pop(), undefined);
});

test('pops in order of due time whatever the push order', () => {
  const heap = new TimerHeap<FakeTimer>();
  for (const w of [5, 1, 4, 2, 3, 0.5, 10, 7]) heap.push(timer(w));
  assert.is(heap.size, 8);
  assert.is(heap.peek()!.name, '0.5');
  assert.is(heap.size, 8); // peek does not remove
  assert.equal(drain(heap), ['0.5', '1', '2', '3', '4', '5', '7', '10']);
  assert.is(heap.size, 0);
});

test('equal times pop in the order they were scheduled (FIFO by seq)', () => {
  const heap = new TimerHeap<FakeTimer>();
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
  heap.push(timer(2, 'late'));
  for (const n of names) heap.push(timer(1, n));
  heap.push(timer(0, 'early'));
  assert.equal(drain(heap), ['early', ...names, 'late']);
});

test('FIFO for equal times holds with interleaved pushes and pops', () => {
  const heap = new TimerHeap<FakeTimer>();
  heap.push(timer(1, 'a'));
  heap.push(timer(1, 'b'));
  assert.is(heap.pop()!.name, 'a');
  heap.push(timer(1, 'c'));
  heap.push(timer(0.5, 'x'));
  heap.push(timer(1, 'd'));
  assert.equal(drain(heap), ['x', 'b', 'c', 'd']);
});

test('a cancelled timer is skipped lazily: it stays counted until it reaches the top', () => {
  const heap = new TimerHeap<FakeTimer>();
  const ts = [timer(1, 'a'), timer(2, 'b'), timer(3, 'c'), timer(4, 'd')];
  for (const t of ts) heap.push(t);
  cancel(heap, ts[1]!);
  assert.is(heap.size, 4);
  assert.is(heap.cancelled_count, 1);
  assert.is(heap.pop()!.name, 'a');
  assert.is(heap.size, 3);
  // Now the cancelled one is on top: peek drops it.
  assert.is(heap.peek()!.name, 'c');
  assert.is(heap.size, 2);
  assert.is(heap.cancelled_count, 0);
  assert.equal(drain(heap), ['c', 'd']);
});

test('cancelled timers at the top are all dropped by one peek', () => {
  const heap = new TimerHeap<FakeTimer>();
  const ts = [1, 2, 3, 4, 5].map((w) => timer(w));
  for (const t of ts) heap.push(t);
  cancel(heap, ts[0]!);
  cancel(heap, ts[1]!);
  cancel(heap, ts[2]!);
  assert.is(heap.peek()!.name, '4');
  assert.is(heap.size, 2);
  assert.is(heap.cancelled_count, 0);
});

test('a heap of only cancelled timers peeks and pops undefined', () => {
  const heap = new TimerHeap<FakeTimer>();
  const ts = [3, 1, 2].map((w) => timer(w));
  for (const t of ts) heap.push(t);
  for (const t of ts) cancel(heap, t);
  assert.is(heap.peek(), undefined);
  assert.is(heap.pop(), undefined);
  assert.is(heap.size, 0);
  assert.is(heap.cancelled_count, 0);
});

test('compaction: when cancelled timers dominate, the heap is rebuilt without them', () => {
  const heap = new TimerHeap<FakeTimer>();
  const ts: FakeTimer[] = [];
  for (let i = 0; i < 1000; i++) {
    const t = timer(1000 - i, `t${1000 - i}`);
    ts.push(t);
    heap.push(t);
  }
  // Cancel every timer except those whose due time is a multiple of 10 (100 live ones).
  const sizes: number[] = [];
  for (const t of ts) {
    if (t._when % 10 !== 0) {
      cancel(heap, t);
      sizes.push(heap.size);
    }
  }
  assert.ok(heap.size < 1000, `the heap should have shrunk, size is ${heap.size}`);
  assert.ok(Math.min(...sizes) < 1000);
  // Never more than half the heap is dead once compaction has had a chance to run.
  assert.ok(heap.cancelled_count * 2 <= heap.size, `dead ${heap.cancelled_count} of ${heap.size}`);
  // Memory stays proportional to the live timers (100) rather than all timers ever scheduled (1000).
  assert.ok(heap.size <= 2 * 100 + 64, `size ${heap.size}`);
  const expected: string[] = [];
  for (let w = 10; w <= 1000; w += 10) expected.push(`t${w}`);
  assert.equal(drain(heap), expected);
});

test('compaction keeps FIFO order for equal times', () => {
  const heap = new TimerHeap<FakeTimer>();
  const live: string[] = [];
  const all: FakeTimer[] = [];
  for (let i = 0; i < 300; i++) {
    const t = timer(i % 3, `${i % 3}:${i}`);
    all.push(t);
    heap.push(t);
  }
  for (const t of all) {
    if (t._seq % 4 !== 0) cancel(heap, t);
    else live.push(t.name);
  }
  assert.ok(heap.size < 300);
  // Expected: by time, then by scheduling order.
  const expected = all.filter((t) => !t._cancelled).sort((a, b) => a._when - b._when || a._seq - b._seq).map((t) => t.name);
  assert.is(expected.length, live.length);
  assert.equal(drain(heap), expected);
});

test('few cancellations do not trigger compaction (lazy removal is cheaper)', () => {
  const heap = new TimerHeap<FakeTimer>();
  const ts = Array.from({ length: 10 }, (_, i) => timer(i));
  for (const t of ts) heap.push(t);
  for (let i = 1; i < 10; i += 2) cancel(heap, ts[i]!);
  assert.is(heap.size, 10);
  assert.is(heap.cancelled_count, 5);
  assert.equal(drain(heap), ['0', '2', '4', '6', '8']);
});

test('clear() empties the heap and returns what it held', () => {
  const heap = new TimerHeap<FakeTimer>();
  const a = timer(1);
  const b = timer(2);
  heap.push(a);
  heap.push(b);
  cancel(heap, b);
  const items = heap.clear();
  assert.equal(new Set(items), new Set([a, b]));
  assert.is(heap.size, 0);
  assert.is(heap.cancelled_count, 0);
  assert.is(heap.pop(), undefined);
});

test('100k random timers pop in sorted order (with ties and cancellations)', () => {
  // A deterministic PRNG (mulberry32) so that a failure can be reproduced.
  let state = 0x9e3779b9;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const heap = new TimerHeap<FakeTimer>();
  const all: FakeTimer[] = [];
  const N = 100_000;
  for (let i = 0; i < N; i++) {
    // Coarse times so that many are equal.
    const t = timer(Math.floor(random() * 5000) / 10, String(i));
    all.push(t);
    heap.push(t);
    if (random() < 0.1) cancel(heap, pick_live(all, random));
  }
  assert.ok(heap.size <= N);
  const expected = all.filter((t) => !t._cancelled).sort((a, b) => a._when - b._when || a._seq - b._seq);
  let prev: FakeTimer | undefined;
  let count = 0;
  for (let t = heap.pop(); t !== undefined; t = heap.pop()) {
    assert.is(t._cancelled, false);
    if (prev !== undefined && !(prev._when < t._when || (prev._when === t._when && prev._seq < t._seq))) {
      assert.unreachable(`out of order: ${prev._when}/${prev._seq} before ${t._when}/${t._seq}`);
    }
    if (t !== expected[count]) assert.unreachable(`pop #${count} is ${t.name}, expected ${expected[count]!.name}`);
    prev = t;
    count++;
  }
  assert.is(count, expected.length);
  assert.ok(count > N * 0.85);
});

/** A timer that is not cancelled yet, chosen at random (cancelling twice would break the dead count). */
function pick_live(all: FakeTimer[], random: () => number): FakeTimer {
  for (;;) {
    const t = all[Math.floor(random() * all.length)]!;
    if (!t._cancelled) return t;
  }
}

test.run();
