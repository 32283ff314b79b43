/**
 * Unix signals for the selector loop (Tulip's `unix_events.py`, the signal half): `add_signal_handler`
 * and `remove_signal_handler`, plus the signal numbers of this platform (`SIGINT`, `SIGTERM`, ...).
 *
 * How a signal reaches a callback: the addon's sigaction handler (src/native/signals.c) writes the signal
 * number as one byte to a non-blocking pipe that belongs to the loop; the loop watches the pipe's read end
 * like any reader, so a signal also ends a wait in epoll/poll/select, and the handlers then run as ordinary
 * callbacks in a later turn, never inside the C handler. Node's `process.on('SIGxxx')` cannot do this
 * job: libuv delivers those events on Node's own loop, which stands still while ours blocks.
 *
 * Rules, and why:
 * - Main thread only (RuntimeError in a worker_thread): dispositions are process-wide, and the addon's
 *   signal tables are shared by every JS context of the process.
 * - One loop owns a signal at a time: the C side has one target pipe per signal. Another loop asking for
 *   a signal that a loop already handles gets a RuntimeError; remove it there first (closing a loop
 *   removes all of its handlers).
 * - The first handler for a signal saves the previous sigaction and removing the last one restores it
 *   exactly, so Node's own handlers survive: Node (here, v20) installs SIGINT and SIGTERM handlers at
 *   start-up (to reset the terminal), libuv one per signal that has a `process.on` listener, the inspector
 *   one for SIGUSR1, and SIGPIPE is set to SIG_IGN. While a tulip handler is installed it replaces those;
 *   adding or removing a `process.on` listener for the SAME signal meanwhile makes libuv rewrite the
 *   disposition behind our back (it cannot know about us), so do not mix the two for one signal.
 * - SIGKILL and SIGSTOP cannot be caught, and numbers outside [1, NSIG) do not exist: both RangeError
 *   (Python raises ValueError/RuntimeError there).
 */
import { isMainThread } from 'node:worker_threads';
import { binding } from './binding.js';
import { RuntimeError, check, errno } from './errors.js';
import { Handle, type AbstractEventLoop, type Callback } from './events.js';
import { logger } from './log.js';

const S = binding.signals;
/** Signal numbers of this platform, by name (also exported one by one below). */
export const signals: Readonly<Record<string, number>> = Object.freeze({ ...S });
export const NSIG = S.NSIG;
export const SIGHUP = S.SIGHUP;
export const SIGINT = S.SIGINT;
export const SIGQUIT = S.SIGQUIT;
export const SIGKILL = S.SIGKILL;
export const SIGUSR1 = S.SIGUSR1;
export const SIGUSR2 = S.SIGUSR2;
export const SIGPIPE = S.SIGPIPE;
export const SIGALRM = S.SIGALRM;
export const SIGTERM = S.SIGTERM;
export const SIGCHLD = S.SIGCHLD;
export const SIGCONT = S.SIGCONT;
export const SIGSTOP = S.SIGSTOP;
export const SIGTSTP = S.SIGTSTP;
export const SIGWINCH = S.SIGWINCH;

const names = new Map<number, string>();
for (const [name, value] of Object.entries(S)) if (name !== 'NSIG' && !names.has(value)) names.set(value, name);

/** 'SIGINT' for 2; 'signal N' for a number without a name here. */
export function signal_name(sig: number): string {
  return names.get(sig) ?? `signal ${sig}`;
}

/** What a loop needs from the selector loop to receive signals (kept small: no import cycle). */
export interface SignalLoop extends AbstractEventLoop {
  _check_closed(): void;
}

/** A loop's signal state: its self-pipe and its handlers, by signal number. */
class LoopSignals {
  readonly handlers = new Map<number, Handle>();
  private readonly buf = Buffer.alloc(256);
  constructor(readonly loop: SignalLoop, readonly rfd: number, readonly wfd: number) {}

  /** The pipe's reader: each byte is one delivery of the signal with that number. */
  dispatch(): void {
    for (;;) {
      const n = binding.read(this.rfd, this.buf, 0, this.buf.length);
      if (n <= 0) {
        if (n < 0 && n !== -errno['EAGAIN']! && n !== -errno['EINTR']!) logger.error(`reading the signal pipe failed: errno ${-n}`);
        return;
      }
      for (let i = 0; i < n; i++) {
        const handle = this.handlers.get(this.buf[i]!);
        // Queued as an ordinary callback: it runs in a later turn, after everything already ready.
        if (handle !== undefined && !handle._cancelled) this.loop.call_soon(handle);
      }
      if (n < this.buf.length) return;
    }
  }
}

const by_loop = new WeakMap<AbstractEventLoop, LoopSignals>();
/** Which loop owns each signal (process-wide, like the dispositions). */
const owners = new Map<number, AbstractEventLoop>();

function check_signal(sig: unknown, method: string): number {
  if (typeof sig !== 'number' || !Number.isInteger(sig)) {
    throw new TypeError(`${method}(): sig must be an integer signal number (e.g. SIGINT), got ${String(sig)}`);
  }
  if (sig < 1 || sig >= NSIG) throw new RangeError(`${method}(): sig must be in [1, ${NSIG}), got ${sig}`);
  return sig;
}

function is_generator_function(fn: Function): boolean {
  return Object.prototype.toString.call(fn) === '[object GeneratorFunction]';
}

/**
 * Calls `callback(...args)` on the loop, as an ordinary callback, each time signal `sig` arrives; replaces
 * this loop's previous handler for `sig`. Returns the Handle (cancelling it stops the calls; the
 * disposition stays ours until remove_signal_handler).
 */
export function add_signal_handler<A extends unknown[]>(loop: SignalLoop, sig: number, callback: Callback<A>, args: A): Handle {
  check_signal(sig, 'add_signal_handler');
  if (typeof callback !== 'function') throw new TypeError(`add_signal_handler() needs a function as its callback, got ${typeof callback}`);
  if (is_generator_function(callback)) {
    throw new TypeError('coroutines cannot be used with add_signal_handler(): pass a function that starts a Task');
  }
  loop._check_closed();
  if (!isMainThread) throw new RuntimeError('add_signal_handler() works only in the main thread (signal dispositions are process-wide)');
  if (sig === SIGKILL || sig === SIGSTOP) throw new RangeError(`add_signal_handler(): ${signal_name(sig)} cannot be caught`);
  const owner = owners.get(sig);
  if (owner !== undefined && owner !== loop) {
    throw new RuntimeError(`${signal_name(sig)} is already handled by another event loop; remove it there (or close that loop) first`);
  }
  let state = by_loop.get(loop);
  if (state === undefined) {
    const fds = binding.pipe();
    if (typeof fds === 'number') check(fds);
    const [r, w] = fds as [number, number];
    state = new LoopSignals(loop, r, w);
    by_loop.set(loop, state);
    const s = state;
    loop.add_reader(r, () => s.dispatch());
  }
  const handle = new Handle(callback, args, loop);
  const r = binding.signal_install(sig, state.wfd);
  if (r < 0) {
    if (state.handlers.size === 0) release(loop, state);
    check(r);
  }
  state.handlers.get(sig)?.cancel();
  state.handlers.set(sig, handle);
  owners.set(sig, loop);
  return handle;
}

/** Removes this loop's handler for `sig` and, with it, restores the disposition that was there before
 * the first add_signal_handler(sig). Returns whether a handler was removed. */
export function remove_signal_handler(loop: AbstractEventLoop, sig: number): boolean {
  check_signal(sig, 'remove_signal_handler');
  const state = by_loop.get(loop);
  const handle = state?.handlers.get(sig);
  if (state === undefined || handle === undefined) return false;
  state.handlers.delete(sig);
  handle.cancel();
  owners.delete(sig);
  const r = binding.signal_restore(sig);
  if (state.handlers.size === 0) release(loop, state);
  check(r);
  return true;
}

/** Removes every handler of `loop` and closes its pipe (SelectorEventLoop.close() calls this). */
export function close_signals(loop: AbstractEventLoop): void {
  const state = by_loop.get(loop);
  if (state === undefined) return;
  for (const sig of [...state.handlers.keys()]) remove_signal_handler(loop, sig);
  release(loop, state);
}

/** Stops watching and closes the self-pipe once no signal points at it. */
function release(loop: AbstractEventLoop, state: LoopSignals): void {
  if (by_loop.get(loop) !== state) return;
  by_loop.delete(loop);
  if (!loop.is_closed()) loop.remove_reader(state.rfd);
  binding.close(state.rfd);
  binding.close(state.wfd);
}

/** @internal For tests: the loop's self-pipe fds, or null when it has no signal handlers. */
export function _signal_fds(loop: AbstractEventLoop): [number, number] | null {
  const state = by_loop.get(loop);
  return state === undefined ? null : [state.rfd, state.wfd];
}
