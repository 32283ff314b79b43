/**
 * Queues for coordinating producer and consumer coroutines (Tulip's `queues.py`): Queue (FIFO),
 * LifoQueue, PriorityQueue (a binary heap) and JoinableQueue (`task_done()` / `join()`).
 *
 * `put()` and `get()` are coroutines (`yield* q.put(x)`, `const x = yield* q.get()`); `put_nowait()` and
 * `get_nowait()` raise QueueFull / QueueEmpty instead of waiting. With `maxsize <= 0` the queue is unbounded.
 * Being single-threaded, `qsize()` is exact: nothing runs between it and the next operation.
 *
 * Timeouts follow the seed: `put(item, { timeout })` raises QueueFull and `get({ timeout })` raises
 * QueueEmpty when the timeout expires. Unlike the seed, a cancellation of the waiting task stays a
 * CancelledError (the seed turned it into Full/Empty too).
 *
 * Items are never handed to a waiter's future: a woken getter takes its item from the queue when it runs.
 * So a getter cancelled after being woken loses nothing (the item is still queued), and it passes its
 * wake-up on to the next getter; putters likewise. A waiter that is woken but finds the queue empty (or
 * full) again, because another coroutine got there first, waits again at the *front* of the line.
 */
import { type AbstractEventLoop, get_event_loop } from '../src/events.js';
import { Future, type Coroutine } from '../src/futures.js';
import { Event, _remove, _wait_on, type LoopOption, type TimeoutOption } from './locks.js';

/** put_nowait() on a full queue, or put() whose timeout expired (the seed's queue.Full). */
export class QueueFull extends Error {
  override name = 'QueueFull';
}

/** get_nowait() on an empty queue, or get() whose timeout expired (the seed's queue.Empty). */
export class QueueEmpty extends Error {
  override name = 'QueueEmpty';
}

/** A FIFO of items with an O(1) shift: an array and a head index, compacted when half of it is consumed. */
class Deque<T> {
  private _items: Array<T | undefined> = [];
  private _head = 0;
  get length(): number {
    return this._items.length - this._head;
  }
  push(item: T): void {
    this._items.push(item);
  }
  shift(): T {
    const item = this._items[this._head] as T;
    this._items[this._head++] = undefined; // let it be collected
    if (this._head > 32 && this._head * 2 > this._items.length) {
      this._items = this._items.slice(this._head);
      this._head = 0;
    }
    return item;
  }
  toArray(): T[] {
    return this._items.slice(this._head) as T[];
  }
}

export class Queue<T = unknown> {
  /** @internal */ _loop: AbstractEventLoop;
  /** @internal */ _maxsize: number;
  /** @internal futures of waiting get() calls, FIFO; resolved (emptied from here) when an item arrives */
  _getters: Array<Future<void>> = [];
  /** @internal futures of waiting put() calls, FIFO; resolved when a slot frees */
  _putters: Array<Future<void>> = [];

  constructor(maxsize = 0, options?: LoopOption) {
    if (typeof maxsize !== 'number' || Number.isNaN(maxsize)) throw new TypeError('Queue(): maxsize must be a number');
    this._loop = options?.loop ?? get_event_loop();
    this._maxsize = maxsize;
  }

  // ---- The storage, overridden by the subclasses (each initializes its own field). ----
  private readonly _fifo = new Deque<T>();
  /** @internal */ protected _put(item: T): void {
    this._fifo.push(item);
  }
  /** @internal */ protected _get(): T {
    return this._fifo.shift();
  }
  /** @internal */ protected _items(): T[] {
    return this._fifo.toArray();
  }
  /** Number of items in the queue. */
  qsize(): number {
    return this._fifo.length;
  }

  /** The number of items allowed in the queue (<= 0: unbounded). */
  get maxsize(): number {
    return this._maxsize;
  }

  empty(): boolean {
    return this.qsize() === 0;
  }

  /** True if the queue holds maxsize items; never true for an unbounded queue. */
  full(): boolean {
    return this._maxsize > 0 && this.qsize() >= this._maxsize;
  }

  /** Puts `item`, waiting while the queue is full; QueueFull if `timeout` expires first. */
  *put(item: T, options?: TimeoutOption): Coroutine<void> {
    // The common case without the waiting machinery (no nested generator, no closure): it is the hot path.
    if (this.full()) yield* this._wait_while(() => this.full(), this._putters, options?.timeout, QueueFull);
    this.put_nowait(item);
  }

  /** Puts `item` now; QueueFull if there is no free slot. */
  put_nowait(item: T): void {
    if (this.full()) throw new QueueFull(`${this.constructor.name}.put_nowait(): the queue is full (maxsize ${this._maxsize})`);
    this._put(item);
    wake_next(this._getters);
  }

  /** Removes and returns an item, waiting while the queue is empty; QueueEmpty if `timeout` expires first. */
  *get(options?: TimeoutOption): Coroutine<T> {
    if (this.empty()) yield* this._wait_while(() => this.empty(), this._getters, options?.timeout, QueueEmpty);
    return this.get_nowait();
  }

  /** Removes and returns an item now; QueueEmpty if there is none. */
  get_nowait(): T {
    if (this.empty()) throw new QueueEmpty(`${this.constructor.name}.get_nowait(): the queue is empty`);
    const item = this._get();
    wake_next(this._putters);
    return item;
  }

  /**
   * Waits in `waiters` until `blocked()` is false. On a timeout raises `Err`; on any exit by exception
   * after having been woken, passes the wake-up on so that no other waiter is left sleeping for nothing.
   */
  private *_wait_while(blocked: () => boolean, waiters: Array<Future<void>>, timeout: number | null | undefined,
    Err: new (message: string) => Error): Coroutine<void> {
    const end = timeout === undefined || timeout === null ? null : this._loop.time() + timeout;
    let first = true;
    while (blocked()) {
      const fut = new Future<void>({ loop: this._loop });
      // Woken but beaten to it: wait again, keeping our place at the front.
      if (first) waiters.push(fut);
      else waiters.unshift(fut);
      first = false;
      let ok: boolean;
      try {
        ok = yield* _wait_on(this._loop, fut, end === null ? null : Math.max(0, end - this._loop.time()));
      } catch (e) {
        _remove(waiters, fut);
        if (fut.done() && !fut.cancelled() && !blocked()) wake_next(waiters);
        throw e;
      }
      if (!ok) {
        _remove(waiters, fut);
        throw new Err(`${this.constructor.name}: timed out after ${timeout} s`);
      }
    }
  }

  toString(): string {
    let s = `<${this.constructor.name} maxsize=${this._maxsize}`;
    if (!this.empty()) s += ` _queue=${JSON.stringify(this._items())}`;
    if (this._getters.length > 0) s += ` _getters[${this._getters.length}]`;
    if (this._putters.length > 0) s += ` _putters[${this._putters.length}]`;
    return s + this._format_extra() + '>';
  }

  /** @internal */ protected _format_extra(): string {
    return '';
  }
}

/** Wakes the first waiter whose future is still pending, dropping it (and dead ones before it) from the line. */
function wake_next(waiters: Array<Future<void>>): void {
  while (waiters.length > 0) {
    const w = waiters.shift()!;
    if (!w.done()) {
      w.set_result();
      return;
    }
  }
}

/** A queue that retrieves the most recently added item first. */
export class LifoQueue<T = unknown> extends Queue<T> {
  private readonly _stack: T[] = [];
  protected override _put(item: T): void {
    this._stack.push(item);
  }
  protected override _get(): T {
    return this._stack.pop() as T;
  }
  protected override _items(): T[] {
    return this._stack.slice();
  }
  override qsize(): number {
    return this._stack.length;
  }
}

/**
 * Python's ordering for the usual queue entries: numbers, bigints and strings by `<`; arrays (Python's
 * tuples) element by element, a prefix first. Other mixes raise TypeError, as Python's `<` does.
 */
export function python_compare(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = python_compare(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  const ta = typeof a;
  const tb = typeof b;
  const numeric = (t: string): boolean => t === 'number' || t === 'bigint';
  if ((numeric(ta) && numeric(tb)) || (ta === 'string' && tb === 'string')) {
    return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
  }
  throw new TypeError(`PriorityQueue: cannot order ${ta} and ${tb}; pass a compare option`);
}

export interface PriorityQueueOptions<T> extends LoopOption {
  /** Negative when `a` comes out first; default `python_compare`. */
  compare?: ((a: T, b: T) => number) | undefined;
}

/** A queue that retrieves the lowest entry first (entries typically `[priority, data]`), on a binary heap. */
export class PriorityQueue<T = unknown> extends Queue<T> {
  private readonly _heap: T[] = [];
  private readonly _compare: (a: T, b: T) => number;

  constructor(maxsize = 0, options?: PriorityQueueOptions<T>) {
    super(maxsize, options);
    this._compare = options?.compare ?? python_compare;
  }
  protected override _put(item: T): void {
    const heap = this._heap;
    const cmp = this._compare;
    // Compare before inserting, so that a TypeError from the comparator leaves the heap unchanged.
    let i = heap.length;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (cmp(item, heap[parent]!) >= 0) break;
      i = parent;
    }
    heap.push(item);
    for (let j = heap.length - 1; j > i;) {
      const parent = (j - 1) >> 1;
      heap[j] = heap[parent]!;
      j = parent;
    }
    heap[i] = item;
  }
  protected override _get(): T {
    const heap = this._heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      const cmp = this._compare;
      const n = heap.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && cmp(heap[r]!, heap[l]!) < 0 ? r : l;
        if (cmp(heap[child]!, last) >= 0) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
  protected override _items(): T[] {
    return this._heap.slice();
  }
  override qsize(): number {
    return this._heap.length;
  }
}

/**
 * A queue that counts unfinished items: each put adds one, each `task_done()` removes one, and `join()`
 * waits until the count is zero.
 */
export class JoinableQueue<T = unknown> extends Queue<T> {
  /** @internal */ _unfinished_tasks = 0;
  /** @internal */ _finished: Event;

  constructor(maxsize = 0, options?: LoopOption) {
    super(maxsize, options);
    this._finished = new Event({ loop: this._loop });
    this._finished.set();
  }

  protected override _put(item: T): void {
    super._put(item);
    this._unfinished_tasks++;
    this._finished.clear();
  }

  /** A consumer says an item it got is fully processed. RangeError (Python's ValueError) if called too often. */
  task_done(): void {
    if (this._unfinished_tasks <= 0) throw new RangeError('task_done() called too many times: more than items were put');
    if (--this._unfinished_tasks === 0) this._finished.set();
  }

  /** Waits until every item put has been marked task_done(); true, or false if `timeout` expired first. */
  *join(options?: TimeoutOption): Coroutine<boolean> {
    if (this._unfinished_tasks === 0) return true;
    return yield* this._finished.wait(options);
  }

  protected override _format_extra(): string {
    return this._unfinished_tasks > 0 ? ` tasks=${this._unfinished_tasks}` : '';
  }
}
