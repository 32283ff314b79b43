/**
 * Python's `selectors` interface over the native addon: `EpollSelector`, `PollSelector`, `SelectSelector`
 * (and `KqueueSelector` where the OS has kqueue), with `DefaultSelector` the best one available.
 *
 * `register(fileobj, events, data)` / `unregister` / `modify` / `select(timeout)` / `get_key` / `get_map` /
 * `close` behave as in Python. The loop uses a faster private path, `_poll(timeout)`: it fills `_ready`
 * (pairs of fd and EVENT_* mask, already filtered by what each fd is registered for) and returns how many
 * pairs there are, so a turn of the loop allocates nothing for the events it handles.
 *
 * Timeouts are seconds: null blocks, <= 0 only looks. They are rounded UP to the milliseconds the system
 * calls take, so a loop never wakes a hair before its timer is due and spins. EINTR ends a wait early with
 * no events (the loop simply takes another turn); every other failure is an OSError.
 */
import { binding } from './binding.js';
import { KeyError, RuntimeError, check, os_error } from './errors.js';
import type { FileDescriptorLike } from './events.js';

export const EVENT_READ = 1;
export const EVENT_WRITE = 2;

const c = binding.constants;
const EINTR = binding.errno_codes['EINTR'] ?? 4;

export interface SelectorKey<D = unknown> {
  readonly fileobj: FileDescriptorLike;
  readonly fd: number;
  readonly events: number;
  readonly data: D;
}

/** The fd of a file object: an integer >= 0, or the result of its `fileno()`. */
export function fileobj_to_fd(fileobj: FileDescriptorLike): number {
  let fd: unknown = fileobj;
  if (typeof fileobj === 'object' && fileobj !== null && typeof fileobj.fileno === 'function') fd = fileobj.fileno();
  if (typeof fd !== 'number' || !Number.isInteger(fd)) {
    throw new TypeError(`Invalid file object: ${String(fileobj)} (need an integer fd or an object with fileno())`);
  }
  if (fd < 0) throw new RangeError(`Invalid file descriptor: ${fd}`);
  return fd;
}

function timeout_ms(timeout: number | null | undefined): number {
  if (timeout === null || timeout === undefined) return -1;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError(`timeout must be a number of seconds or null, got ${String(timeout)}`);
  if (timeout <= 0) return 0;
  // Capped at what an int of milliseconds holds (about 24 days); a longer wait simply wakes up once early.
  return Math.min(Math.ceil(timeout * 1000), 0x7fffffff);
}

export abstract class BaseSelector<D = unknown> {
  /** @internal fd → key */
  protected _keys = new Map<number, SelectorKey<D>>();
  /** @internal pairs [fd, EVENT_* mask] written by _poll() */
  _ready = new Int32Array(2 * 1024);
  protected _closed = false;

  register(fileobj: FileDescriptorLike, events: number, data?: D): SelectorKey<D> {
    this._check_open();
    if (!Number.isInteger(events) || events === 0 || (events & ~(EVENT_READ | EVENT_WRITE)) !== 0) {
      throw new RangeError(`Invalid events: ${String(events)}`);
    }
    const fd = fileobj_to_fd(fileobj);
    if (this._keys.has(fd)) throw new KeyError(`${String(fileobj)} (FD ${fd}) is already registered`);
    const key: SelectorKey<D> = { fileobj, fd, events, data: data as D };
    this._add(fd, events);
    this._keys.set(fd, key);
    return key;
  }

  unregister(fileobj: FileDescriptorLike): SelectorKey<D> {
    this._check_open();
    const fd = fileobj_to_fd(fileobj);
    const key = this._keys.get(fd);
    if (key === undefined) throw new KeyError(`${String(fileobj)} is not registered`);
    this._keys.delete(fd);
    this._remove(fd, key.events);
    return key;
  }

  /** Changes the events and data of a registered file object (only the data: no system call). */
  modify(fileobj: FileDescriptorLike, events: number, data?: D): SelectorKey<D> {
    this._check_open();
    const fd = fileobj_to_fd(fileobj);
    const old = this._keys.get(fd);
    if (old === undefined) throw new KeyError(`${String(fileobj)} is not registered`);
    if (events !== old.events) {
      if (!Number.isInteger(events) || events === 0 || (events & ~(EVENT_READ | EVENT_WRITE)) !== 0) {
        throw new RangeError(`Invalid events: ${String(events)}`);
      }
      this._change(fd, old.events, events);
    }
    const key: SelectorKey<D> = { fileobj: old.fileobj, fd, events, data: data as D };
    this._keys.set(fd, key);
    return key;
  }

  /** Waits for registered file objects to be ready: a list of [key, ready events]. */
  select(timeout: number | null = null): Array<[SelectorKey<D>, number]> {
    const n = this._poll(timeout);
    const out: Array<[SelectorKey<D>, number]> = [];
    const ready = this._ready;
    for (let i = 0; i < n; i++) {
      const key = this._keys.get(ready[2 * i]!);
      if (key !== undefined) out.push([key, ready[2 * i + 1]!]);
    }
    return out;
  }

  /** @internal The allocation-free select(): fills `_ready`, returns the number of [fd, mask] pairs. */
  _poll(timeout: number | null): number {
    this._check_open();
    const r = this._wait(timeout_ms(timeout));
    if (r >= 0) return r;
    if (-r === EINTR) return 0;
    throw os_error(-r);
  }

  get_key(fileobj: FileDescriptorLike): SelectorKey<D> {
    const key = this._keys.get(fileobj_to_fd(fileobj));
    if (key === undefined) throw new KeyError(`${String(fileobj)} is not registered`);
    return key;
  }

  /** @internal get_key() without the throw, by fd. */
  _key(fd: number): SelectorKey<D> | undefined {
    return this._keys.get(fd);
  }

  /** The registrations, by fd. */
  get_map(): ReadonlyMap<number, SelectorKey<D>> {
    return this._keys;
  }

  close(): void {
    this._keys.clear();
    this._closed = true;
  }

  protected _check_open(): void {
    if (this._closed) throw new RuntimeError(`${this.constructor.name} is closed`);
  }

  /**
   * Turns `n` raw [fd, revents] pairs (epoll or poll masks; `IN` / `OUT` are that API's bits) into
   * `_ready`'s [fd, EVENT_*] pairs, keeping only the events each fd is registered for. Errors and hang-ups
   * (the bits that are neither IN nor OUT) wake both directions: the next recv/send reports them. `raw` may
   * be `_ready` itself: the output never overtakes the input.
   */
  protected _filter_ready(raw: Int32Array, n: number, IN: number, OUT: number): number {
    const ready = this._ready;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const fd = raw[2 * i]!, ev = raw[2 * i + 1]!;
      const key = this._keys.get(fd);
      if (key === undefined) continue;
      const mask = ((ev & ~OUT) !== 0 ? EVENT_READ : 0) | ((ev & ~IN) !== 0 ? EVENT_WRITE : 0);
      const want = mask & key.events;
      if (want === 0) continue;
      ready[2 * count] = fd;
      ready[2 * count + 1] = want;
      count++;
    }
    return count;
  }

  /** Makes room for n pairs in `_ready`. */
  protected _reserve(pairs: number): void {
    if (this._ready.length < 2 * pairs) this._ready = new Int32Array(2 * Math.max(pairs, this._ready.length));
  }

  protected abstract _add(fd: number, events: number): void;
  protected abstract _remove(fd: number, events: number): void;
  protected abstract _change(fd: number, old_events: number, events: number): void;
  /** Waits up to `ms` (-1: forever), fills `_ready`; returns the pair count or -errno. */
  protected abstract _wait(ms: number): number;
}

// ---- epoll (Linux) ----------------------------------------------------------------------------------------

function epoll_mask(events: number): number {
  return (events & EVENT_READ ? c.EPOLLIN! : 0) | (events & EVENT_WRITE ? c.EPOLLOUT! : 0);
}

/**
 * epoll: O(ready) per wait. Quirk: epoll watches the open file, not the fd number, so an fd closed while
 * registered (with no dup left) silently leaves the set; unregistering it later then fails with EBADF or
 * ENOENT, which is ignored. Always unregister before closing, or the kernel may report a reused fd number.
 */
export class EpollSelector<D = unknown> extends BaseSelector<D> {
  private _epfd: number;
  private _raw = new Int32Array(2 * 1024);

  constructor() {
    super();
    if (!binding.epoll_create) throw new RuntimeError('epoll is not available on this platform');
    this._epfd = check(binding.epoll_create());
  }

  fileno(): number {
    return this._epfd;
  }

  protected _add(fd: number, events: number): void {
    check(binding.epoll_ctl!(this._epfd, c.EPOLL_CTL_ADD!, fd, epoll_mask(events)));
  }
  protected _remove(fd: number): void {
    binding.epoll_ctl!(this._epfd, c.EPOLL_CTL_DEL!, fd, 0); // see the class comment
  }
  protected _change(fd: number, _old: number, events: number): void {
    check(binding.epoll_ctl!(this._epfd, c.EPOLL_CTL_MOD!, fd, epoll_mask(events)));
  }

  protected _wait(ms: number): number {
    const n = binding.epoll_wait!(this._epfd, this._raw, ms);
    return n <= 0 ? n : this._filter_ready(this._raw, n, c.EPOLLIN!, c.EPOLLOUT!);
  }

  override close(): void {
    if (this._closed) return;
    binding.close(this._epfd);
    this._epfd = -1;
    super.close();
  }
}

// ---- poll ------------------------------------------------------------------------------------------------

/** The selectors that pass the whole fd set on every call: a change only marks the set for rebuilding. */
abstract class FdSetSelector<D> extends BaseSelector<D> {
  protected _dirty = true;

  protected _add(_fd: number, _events: number): void {
    this._dirty = true;
  }
  protected _remove(): void {
    this._dirty = true;
  }
  protected _change(): void {
    this._dirty = true;
  }
}

/** poll(2): no fd limit, O(registered) per wait. The pollfd array is rebuilt only after a change. */
export class PollSelector<D = unknown> extends FdSetSelector<D> {
  private _fds = new Int32Array(0);

  protected _wait(ms: number): number {
    const n = this._keys.size;
    if (this._dirty) {
      if (this._fds.length < 2 * n) this._fds = new Int32Array(2 * n);
      let i = 0;
      for (const key of this._keys.values()) {
        this._fds[i++] = key.fd;
        this._fds[i++] = (key.events & EVENT_READ ? c.POLLIN : 0) | (key.events & EVENT_WRITE ? c.POLLOUT : 0);
      }
      this._dirty = false;
    }
    this._reserve(n);
    const ready = this._ready;
    const r = binding.poll(this._fds, n, ready, ms);
    return r <= 0 ? r : this._filter_ready(ready, r, c.POLLIN, c.POLLOUT);
  }
}

// ---- select ----------------------------------------------------------------------------------------------

/**
 * select(2): the portable fallback. It cannot watch fds >= FD_SETSIZE (1024 on Linux): registering one is
 * refused at once with a RangeError rather than failing later inside select().
 */
export class SelectSelector<D = unknown> extends FdSetSelector<D> {
  private _rfds = new Int32Array(0);
  private _wfds = new Int32Array(0);
  private _nr = 0;
  private _nw = 0;

  protected override _add(fd: number, events: number): void {
    if (fd >= c.FD_SETSIZE) {
      throw new RangeError(`SelectSelector cannot watch fd ${fd}: select() is limited to fds below FD_SETSIZE (${c.FD_SETSIZE}); use PollSelector or EpollSelector`);
    }
    super._add(fd, events);
  }

  protected _wait(ms: number): number {
    const n = this._keys.size;
    if (this._dirty) {
      if (this._rfds.length < n) {
        this._rfds = new Int32Array(n);
        this._wfds = new Int32Array(n);
      }
      let nr = 0, nw = 0;
      for (const key of this._keys.values()) {
        if (key.events & EVENT_READ) this._rfds[nr++] = key.fd;
        if (key.events & EVENT_WRITE) this._wfds[nw++] = key.fd;
      }
      this._nr = nr;
      this._nw = nw;
      this._dirty = false;
    }
    this._reserve(this._nr + this._nw);
    // The addon writes one [fd, mask] pair per ready fd with mask bit 1 = readable, 2 = writable:
    // exactly EVENT_READ and EVENT_WRITE, and only for the events registered.
    return binding.select(this._rfds, this._nr, this._wfds, this._nw, this._ready, ms);
  }
}

// ---- kqueue (BSD, macOS) ---------------------------------------------------------------------------------

/** kqueue: the BSDs' and macOS's scalable selector; one filter per direction per fd. */
export class KqueueSelector<D = unknown> extends BaseSelector<D> {
  private _kq: number;
  private _changes = new Int32Array(6);
  private _raw = new Int32Array(3 * 1024);

  constructor() {
    super();
    if (!binding.kqueue_create) throw new RuntimeError('kqueue is not available on this platform');
    this._kq = check(binding.kqueue_create());
  }

  fileno(): number {
    return this._kq;
  }

  private _apply(fd: number, add: number, remove: number): void {
    const k = c as unknown as Record<string, number>;
    let n = 0;
    const push = (filter: number, flags: number): void => {
      this._changes[3 * n] = fd;
      this._changes[3 * n + 1] = filter;
      this._changes[3 * n + 2] = flags;
      n++;
    };
    if (remove & EVENT_READ) push(k['EVFILT_READ']!, k['EV_DELETE']!);
    if (remove & EVENT_WRITE) push(k['EVFILT_WRITE']!, k['EV_DELETE']!);
    if (add & EVENT_READ) push(k['EVFILT_READ']!, k['EV_ADD']!);
    if (add & EVENT_WRITE) push(k['EVFILT_WRITE']!, k['EV_ADD']!);
    const r = binding.kevent!(this._kq, this._changes, n, this._raw, 0);
    if (r < 0 && add !== 0) check(r);
  }

  protected _add(fd: number, events: number): void {
    this._apply(fd, events, 0);
  }
  protected _remove(fd: number, events: number): void {
    this._apply(fd, 0, events);
  }
  protected _change(fd: number, old: number, events: number): void {
    this._apply(fd, events & ~old, old & ~events);
  }

  protected _wait(ms: number): number {
    const k = c as unknown as Record<string, number>;
    const raw = this._raw;
    const n = binding.kevent!(this._kq, this._changes, 0, raw, ms);
    if (n <= 0) return n;
    this._reserve(n);
    const ready = this._ready;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const fd = raw[3 * i]!, filter = raw[3 * i + 1]!;
      const key = this._keys.get(fd);
      if (key === undefined) continue;
      const want = (filter === k['EVFILT_READ'] ? EVENT_READ : EVENT_WRITE) & key.events;
      if (want === 0) continue;
      ready[2 * count] = fd;
      ready[2 * count + 1] = want;
      count++;
    }
    return count;
  }

  override close(): void {
    if (this._closed) return;
    binding.close(this._kq);
    this._kq = -1;
    super.close();
  }
}

/** The selector classes this platform has, best first. */
export const available_selectors: ReadonlyArray<new () => BaseSelector> = [
  ...(binding.epoll_create ? [EpollSelector] : []),
  ...(binding.kqueue_create ? [KqueueSelector] : []),
  PollSelector,
  SelectSelector,
];

/** The best selector for this platform: epoll on Linux, kqueue on the BSDs and macOS, else poll. */
export const DefaultSelector: new <D = unknown>() => BaseSelector<D> = available_selectors[0] as new <D = unknown>() => BaseSelector<D>;
