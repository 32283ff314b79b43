/**
 * SelectorEventLoop (Tulip's `selector_events.py`): BaseEventLoop plus a selector. A ready fd becomes a
 * ready handle: each registered fd's key carries the reader and writer Handles, and a turn pushes those very
 * handles onto the ready queue — no allocation per event.
 *
 * A wake-up fd (an eventfd on Linux, a pipe elsewhere) is registered like any reader, so that
 * `call_soon_threadsafe()` and worker threads (which may write to it: it is a plain fd) end a wait in the
 * selector. Its reader drains it; what woke the loop is whatever the waker queued.
 */
import { binding } from './binding.js';
import { BaseEventLoop } from './base_events.js';
import { check } from './errors.js';
import { Handle, _set_default_loop_factory, type Callback, type FileDescriptorLike } from './events.js';
import { DefaultSelector, EVENT_READ, EVENT_WRITE, fileobj_to_fd, type BaseSelector } from './selectors.js';

/** What the loop stores as a registration's data: the handles to run when the fd is readable / writable. */
export class IoHandles {
  constructor(public reader: Handle | null, public writer: Handle | null) {}
}

export class SelectorEventLoop extends BaseEventLoop {
  /** @internal */ _selector: BaseSelector<IoHandles>;
  private _wakeup_r: number;
  /** @internal The write side of the wake-up fd: writing to it (from any thread) wakes this loop. */
  _wakeup_w: number;

  constructor(selector?: BaseSelector<IoHandles>) {
    super();
    this._selector = selector ?? new DefaultSelector<IoHandles>();
    const fds = binding.wakeup_create();
    if (typeof fds === 'number') {
      this._selector.close();
      check(fds);
    }
    [this._wakeup_r, this._wakeup_w] = fds as [number, number];
    this.add_reader(this._wakeup_r, binding.wakeup_drain, this._wakeup_r);
  }

  protected override _write_to_self(): void {
    if (this._wakeup_w >= 0) binding.wakeup_signal(this._wakeup_w);
  }

  override close(): void {
    if (this.is_closed()) return;
    super.close();
    this._selector.close();
    binding.close(this._wakeup_r);
    if (this._wakeup_w !== this._wakeup_r) binding.close(this._wakeup_w);
    this._wakeup_r = this._wakeup_w = -1;
  }

  protected _process_io(timeout: number | null): void {
    const selector = this._selector;
    const n = selector._poll(timeout);
    const ready = selector._ready;
    const queue = this._ready;
    for (let i = 0; i < n; i++) {
      const key = selector._key(ready[2 * i]!);
      if (key === undefined) continue;
      const mask = ready[2 * i + 1]!;
      const { reader, writer } = key.data;
      if (mask & EVENT_READ && reader !== null && !reader._cancelled) queue.push(reader);
      if (mask & EVENT_WRITE && writer !== null && !writer._cancelled) queue.push(writer);
    }
  }

  // ---- I/O callbacks ----

  /** Calls `callback(...args)` whenever `fd` is readable, until `remove_reader(fd)`; replaces any reader. */
  override add_reader<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A>, ...args: A): Handle {
    return this._add_io(fd, EVENT_READ, this._io_handle(callback, args, 'add_reader'));
  }

  /** Calls `callback(...args)` whenever `fd` is writable, until `remove_writer(fd)`; replaces any writer. */
  override add_writer<A extends unknown[]>(fd: FileDescriptorLike, callback: Callback<A>, ...args: A): Handle {
    return this._add_io(fd, EVENT_WRITE, this._io_handle(callback, args, 'add_writer'));
  }

  /** Stops watching `fd` for reading; true if a reader was registered. */
  override remove_reader(fd: FileDescriptorLike): boolean {
    return this._remove_io(fd, EVENT_READ);
  }

  /** Stops watching `fd` for writing; true if a writer was registered. */
  override remove_writer(fd: FileDescriptorLike): boolean {
    return this._remove_io(fd, EVENT_WRITE);
  }

  private _io_handle(callback: Callback | Handle, args: unknown[], method: string): Handle {
    this._check_closed();
    if (callback instanceof Handle) {
      if (args.length > 0) throw new TypeError('a Handle passed as the callback cannot take arguments');
      return callback;
    }
    if (typeof callback !== 'function') throw new TypeError(`${method}() needs a function as its callback, got ${typeof callback}`);
    return new Handle(callback, args, this);
  }

  private _add_io(fileobj: FileDescriptorLike, event: number, handle: Handle): Handle {
    const fd = fileobj_to_fd(fileobj);
    const key = this._selector._key(fd);
    if (key === undefined) {
      const data = event === EVENT_READ ? new IoHandles(handle, null) : new IoHandles(null, handle);
      this._selector.register(fd, event, data);
      return handle;
    }
    const data = key.data;
    const old = event === EVENT_READ ? data.reader : data.writer;
    if (event === EVENT_READ) data.reader = handle;
    else data.writer = handle;
    if ((key.events & event) === 0) this._selector.modify(fd, key.events | event, data);
    if (old !== handle) old?.cancel();
    return handle;
  }

  private _remove_io(fileobj: FileDescriptorLike, event: number): boolean {
    if (this.is_closed()) return false;
    const fd = fileobj_to_fd(fileobj);
    const key = this._selector._key(fd);
    if (key === undefined || (key.events & event) === 0) return false;
    const data = key.data;
    const old = event === EVENT_READ ? data.reader : data.writer;
    if (event === EVENT_READ) data.reader = null;
    else data.writer = null;
    const rest = key.events & ~event;
    if (rest === 0) this._selector.unregister(fd);
    else this._selector.modify(fd, rest, data);
    old?.cancel();
    return true;
  }
}

_set_default_loop_factory(() => new SelectorEventLoop());
