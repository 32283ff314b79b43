/**
 * child_watcher: noticing that a child process has exited, from inside a loop that may be blocked in the
 * selector (Node's own `child_process` events do not fire there).
 *
 * The way used on this machine: a pidfd (Linux >= 5.3) polls readable once its child exits, so the exit
 * is one more reader; its callback reaps exactly that pid with waitpid(pid, WNOHANG). Nothing touches
 * SIGCHLD, so libuv's SIGCHLD handler (installed when Node spawns its own children) keeps working, and we
 * never call waitpid(-1), which would steal Node's children.
 *
 * The fallback, for kernels without pidfd_open (spawn() then reports pidfd < 0): the loop takes SIGCHLD
 * through add_signal_handler and, on each delivery, polls waitpid_nohang for each of its own children
 * (SIGCHLD does not say which child, and several exits may merge into one delivery). This takes SIGCHLD
 * over from libuv while any such child runs, so Node's own child_process exits are noticed late (on
 * its next SIGCHLD after ours is gone); and a user's own SIGCHLD handler on the same loop is replaced.
 * Each registration also polls once at once, in case the child exited before the handler was there.
 *
 * Closing the loop closes every pidfd it still watches and reaps what has already exited; a child still
 * running then is left to run (as asyncio leaves it) and becomes a zombie when it exits, until this
 * process ends.
 */
import { binding } from './binding.js';
import { errno } from './errors.js';
import type { AbstractEventLoop } from './events.js';
import { logger } from './log.js';
import { SIGCHLD } from './unix_signals.js';

/** Called once with the return code: the exit code, or -N when signal N killed the child. */
export type ExitCallback = (returncode: number) => void;

interface Watch {
  pid: number;
  pidfd: number; // < 0: watched through SIGCHLD
  on_exit: ExitCallback;
}

const watches = new WeakMap<AbstractEventLoop, Map<number, Watch>>();

/** @internal Tests set this to exercise the SIGCHLD fallback on a kernel that has pidfds. */
export const _options = { force_sigchld: false };

function loop_watches(loop: AbstractEventLoop): Map<number, Watch> {
  let m = watches.get(loop);
  if (m === undefined) watches.set(loop, (m = new Map()));
  return m;
}

/** Starts watching `pid` (a child of this process) on `loop`; `pidfd` as spawn() returned it. */
export function watch_child(loop: AbstractEventLoop, pid: number, pidfd: number, on_exit: ExitCallback): void {
  const m = loop_watches(loop);
  if (pidfd >= 0 && _options.force_sigchld) {
    binding.close(pidfd);
    pidfd = -1;
  }
  const w: Watch = { pid, pidfd, on_exit };
  m.set(pid, w);
  if (pidfd >= 0) {
    loop.add_reader(pidfd, poll_one, loop, w);
  } else {
    if (![...m.values()].some((o) => o !== w && o.pidfd < 0)) loop.add_signal_handler(SIGCHLD, poll_all, loop);
    loop.call_soon(poll_one, loop, w);
  }
}

/** Tries to reap `w`; when it has exited, ends the watch and reports the return code. */
function poll_one(loop: AbstractEventLoop, w: Watch): void {
  const m = watches.get(loop);
  if (m?.get(w.pid) !== w) return; // already reaped
  const r = binding.waitpid_nohang(w.pid);
  if (r === null) return; // still running (a spurious wake-up, or another child's SIGCHLD)
  let returncode: number;
  if (typeof r === 'number') {
    // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the process). asyncio reports 255.
    logger.warning(`Unknown child process pid ${w.pid} (${r === -errno['ECHILD']! ? 'already reaped elsewhere' : `errno ${-r}`}), will report returncode 255`);
    returncode = 255;
  } else {
    returncode = r[1];
  }
  stop(loop, m, w);
  w.on_exit(returncode);
}

function poll_all(loop: AbstractEventLoop): void {
  for (const w of [...(watches.get(loop)?.values() ?? [])]) if (w.pidfd < 0) poll_one(loop, w);
}

function stop(loop: AbstractEventLoop, m: Map<number, Watch>, w: Watch): void {
  m.delete(w.pid);
  if (w.pidfd >= 0) {
    if (!loop.is_closed()) loop.remove_reader(w.pidfd);
    binding.close(w.pidfd);
  } else if (!loop.is_closed() && ![...m.values()].some((o) => o.pidfd < 0)) {
    loop.remove_signal_handler(SIGCHLD);
  }
}

/** Ends every watch of a closing loop: pidfds closed, children that already exited reaped. */
export function close_child_watches(loop: AbstractEventLoop): void {
  const m = watches.get(loop);
  if (m === undefined) return;
  watches.delete(loop);
  for (const w of m.values()) {
    if (w.pidfd >= 0) binding.close(w.pidfd);
    binding.waitpid_nohang(w.pid);
  }
}

/** @internal For tests: how many children `loop` is watching. */
export function _watched_count(loop: AbstractEventLoop): number {
  return watches.get(loop)?.size ?? 0;
}
