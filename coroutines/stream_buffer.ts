/**
 * The byte buffer behind StreamReader: one growing Buffer with a read offset (`start`) and a write offset
 * (`end`), so that many small chunks cost one copy in and one copy out each, never a re-concatenation of
 * everything buffered (Python's bytearray `del buf[:n]` is O(len) per read, and `Buffer.concat` per feed
 * would be O(n²) over many small chunks).
 *
 * Space is reclaimed lazily: when a feed does not fit at the end, the live bytes are moved to the front
 * only if they fill at most half the capacity (so each move is paid for by at least as many new bytes);
 * otherwise the buffer doubles. An emptied buffer rewinds to offset 0, and drops a large allocation.
 */

const MIN_CAPACITY = 16 * 1024;
/** An empty buffer keeps its allocation only up to this size (one burst should not pin memory forever). */
const KEEP_CAPACITY = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export class ByteBuffer {
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    if (this.end + n > this.buf.length) this.make_room(n);
    this.buf.set(data, this.end);
    this.end += n;
  }

  private make_room(n: number): void {
    const live = this.end - this.start;
    const need = live + n;
    if (need <= this.buf.length >> 1) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const bigger = Buffer.allocUnsafe(Math.max(MIN_CAPACITY, this.buf.length * 2, need * 2));
      this.buf.copy(bigger, 0, this.start, this.end);
      this.buf = bigger;
    }
    this.start = 0;
    this.end = live;
  }

  /** The first `n` bytes (n <= length), as a Buffer of their own, removed from the buffer. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.start, this.start + n);
    this.start += n;
    if (this.start === this.end) this.clear();
    return out;
  }

  /** Everything buffered, removed. */
  take_all(): Buffer {
    return this.take(this.length);
  }

  /** Position of `sep` at or after `from` (both relative to the first buffered byte), or -1. */
  index_of(sep: Uint8Array, from: number): number {
    if (this.length - from < sep.length) return -1;
    return this.buf.subarray(this.start, this.end).indexOf(sep, from);
  }

  clear(): void {
    this.start = this.end = 0;
    if (this.buf.length > KEEP_CAPACITY) this.buf = EMPTY;
  }
}
