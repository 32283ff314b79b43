// `npx tsx bench/locks_queues.ts`: the locks' and queues' fast paths, side by side with Node equivalents.
//
//   Lock acquire/release (uncontended)   ns per pair   vs a Promise-based mutex (await lock(); unlock())
//   Queue put/get round trip             ns per item   vs an array + resolver queue (await push / await shift)
//
// Both tulip-ts figures run inside one Task, so they measure the coroutine path itself (a generator per
// acquire()/put()/get(), no loop turn). Each figure is the best of several runs.
import { Lock, Queue, Task, new_event_loop, type Coroutine } from '../src/index.js';
import { best, best_async } from './timing.js';

const N = 1_000_000;


/** Runs `body` in a Task on a fresh loop and returns ns per iteration of its own timing. */
function in_task(body: () => Coroutine<number>): number {
  const loop = new_event_loop();
  const ns = loop.run_until_complete(new Task(body(), { loop }));
  loop.close();
  return ns;
}

function tulip_lock(n: number): number {
  return in_task(function* () {
    const lock = new Lock();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      yield* lock.acquire();
      lock.release();
    }
    return ((performance.now() - t0) * 1e6) / n;
  });
}

/** The usual Node mutex: a promise chain; acquire resolves with the release function. */
class PromiseMutex {
  private _tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this._tail.then(() => release);
    this._tail = next;
    return ready;
  }
}
async function node_mutex(n: number): Promise<number> {
  const m = new PromiseMutex();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const unlock = await m.lock();
    unlock();
  }
  return ((performance.now() - t0) * 1e6) / n;
}

function tulip_queue(n: number): number {
  return in_task(function* () {
    const q = new Queue<number>();
    let sum = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      yield* q.put(i);
      sum += yield* q.get();
    }
    if (sum < 0) throw new Error('unreachable');
    return ((performance.now() - t0) * 1e6) / n;
  });
}

/** A Node async queue: an array of items and an array of resolvers for waiting takers. */
class AsyncQueue<T> {
  private _items: T[] = [];
  private _takers: Array<(v: T) => void> = [];
  async put(item: T): Promise<void> {
    const taker = this._takers.shift();
    if (taker) taker(item);
    else this._items.push(item);
  }
  get(): Promise<T> {
    if (this._items.length > 0) return Promise.resolve(this._items.shift()!);
    return new Promise((r) => this._takers.push(r));
  }
}
async function node_queue(n: number): Promise<number> {
  const q = new AsyncQueue<number>();
  let sum = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await q.put(i);
    sum += await q.get();
  }
  if (sum < 0) throw new Error('unreachable');
  return ((performance.now() - t0) * 1e6) / n;
}

const rows: Array<[string, number, number]> = [
  ['Lock acquire/release (uncontended)', best(() => tulip_lock(N)), await best_async(() => node_mutex(N))],
  ['Queue put/get round trip', best(() => tulip_queue(N)), await best_async(() => node_queue(N))],
];
console.log(`${'benchmark'.padEnd(38)}${'tulip-ts ns'.padStart(12)}${'node ns'.padStart(12)}`);
for (const [name, ours, node] of rows) {
  console.log(`${name.padEnd(38)}${ours.toFixed(1).padStart(12)}${node.toFixed(1).padStart(12)}`);
}
