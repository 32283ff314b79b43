/**
 * The timer heap: a binary min-heap of timers in a plain array, ordered by due time and, for equal times,
 * by the order they were scheduled in (so same-time timers fire FIFO, as the seed PEP asks).
 *
 * Cancelling a timer does not search the heap (that would be O(n)): the timer is only flagged, and the heap
 * drops flagged timers when they reach the top. When cancelled timers come to dominate the heap (a server
 * that arms and cancels a timeout per request does exactly that), the heap is rebuilt without them, so
 * memory stays proportional to the live timers. This module knows nothing about the loop.
 */

export interface Timer {
  /** When it is due, in the loop's time (seconds). */
  readonly _when: number;
  /** A strictly increasing sequence number: the tie-breaker that keeps equal times in FIFO order. */
  readonly _seq: number;
  readonly _cancelled: boolean;
}

/** Compaction only pays off past this many dead entries; below it, lazy removal is cheaper. */
const MIN_DEAD_FOR_COMPACTION = 64;

function before(a: Timer, b: Timer): boolean {
  return a._when < b._when || (a._when === b._when && a._seq < b._seq);
}

export class TimerHeap<T extends Timer> {
  private _items: T[] = [];
  private _dead = 0;

  /** Entries in the heap, cancelled ones included. */
  get size(): number {
    return this._items.length;
  }

  /** Entries that were cancelled but not yet dropped. */
  get cancelled_count(): number {
    return this._dead;
  }

  push(item: T): void {
    const items = this._items;
    items.push(item);
    this._sift_up(items.length - 1);
  }

  /** The earliest live timer, dropping cancelled ones from the top on the way; undefined when empty. */
  peek(): T | undefined {
    const items = this._items;
    while (items.length > 0 && items[0]!._cancelled) {
      this._remove_top();
      this._dead--;
    }
    return items[0];
  }

  /** Removes and returns the earliest live timer. */
  pop(): T | undefined {
    const top = this.peek();
    if (top !== undefined) this._remove_top();
    return top;
  }

  /** Tell the heap that one of its entries was just cancelled; compacts when the dead dominate. */
  note_cancelled(): void {
    this._dead++;
    if (this._dead >= MIN_DEAD_FOR_COMPACTION && this._dead * 2 > this._items.length) this._compact();
  }

  clear(): T[] {
    const items = this._items;
    this._items = [];
    this._dead = 0;
    return items;
  }

  private _compact(): void {
    const live = this._items.filter((t) => !t._cancelled);
    this._items = live;
    this._dead = 0;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this._sift_down(i);
  }

  private _remove_top(): void {
    const items = this._items;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      this._sift_down(0);
    }
  }

  private _sift_up(i: number): void {
    const items = this._items;
    const item = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(item, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = item;
  }

  private _sift_down(i: number): void {
    const items = this._items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right]!, items[child]!)) child = right;
      if (!before(items[child]!, item)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = item;
  }
}
