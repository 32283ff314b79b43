/**
 * The hosted mode: a tulip loop living inside an ordinary Node program, instead of owning the thread in
 * run_forever(). Node's own loop watches the selector's fd (through the addon's host_watch: an epoll or
 * kqueue fd is readable while any fd registered in it is ready) and calls one turn of the tulip loop when
 * it is; a Node timer stands for the tulip loop's next timer, and an immediate for callbacks already
 * queued. In between, Node runs everything of its own: its timers and I/O, Promise reactions, other
 * libraries. (trio's guest mode is the precedent; DESIGN.md, "The loop".)
 *
 *   const loop = new_event_loop();
 *   const server = await loop.run_until_complete_hosted(loop.create_server(factory, '127.0.0.1', 8080));
 *   await fetch('http://127.0.0.1:8080/');   // Node's own client, talking to the tulip server
 *
 * A turn is `_run_once(0)`: exactly what run_forever() does per iteration, never waiting in the selector
 * (Node does the waiting). get_running_loop() is the loop during a turn, and nothing outside one.
 *
 * Only a selector with an fd of its own can be hosted: epoll and kqueue (the default where the OS has
 * one); PollSelector and SelectSelector cannot, and say so.
 */
import { binding, type HostHandle } from './binding.js';
import { os_error } from './errors.js';

/** @internal What the loop offers the host (BaseEventLoop). */
export interface HostableLoop {
  /** The loop counts as running from here until _host_end(). */
  _host_begin(): void;
  /** One turn; → -1 (stop() was called), 0 (callbacks are queued), seconds until the next timer, or null
   * (nothing but I/O to wait for). */
  _host_turn(): number | null;
  _host_end(): void;
}

/** Hosts `loop` on Node's loop until it is stopped; the Promise settles then (or rejects if a turn throws). */
export function host(loop: HostableLoop, fd: number): Promise<void> {
  loop._host_begin();
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    let immediate: NodeJS.Immediate | null = null;
    let watcher: HostHandle | null = null;
    const clear = (): void => {
      if (timer !== null) clearTimeout(timer);
      if (immediate !== null) clearImmediate(immediate);
      timer = immediate = null;
    };
    const finish = (): void => {
      clear();
      if (watcher !== null) binding.host_unwatch(watcher);
      watcher = null;
      loop._host_end();
    };
    const turn = (): void => {
      clear();
      let next: number | null;
      try {
        next = loop._host_turn();
      } catch (e) {
        finish();
        reject(e);
        return;
      }
      if (next === -1) {
        finish();
        resolve();
      } else if (next === 0) {
        immediate = setImmediate(turn);
      } else if (next !== null) {
        // Node's timers have millisecond steps: round up, so that the tulip timer is due when this fires.
        timer = setTimeout(turn, Math.ceil(next * 1000));
      }
    };
    const w = binding.host_watch(fd, turn);
    if (typeof w === 'number') {
      loop._host_end();
      reject(os_error(-w));
      return;
    }
    watcher = w;
    immediate = setImmediate(turn);
  });
}
