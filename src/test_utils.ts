/**
 * TestLoop: an event loop on virtual time, for deterministic tests of timer logic and for teaching.
 *
 * Its clock only moves when the loop would otherwise wait: instead of sleeping until the next timer, it
 * jumps straight to it. So `loop.run_until_complete(sleep(3600))` returns at once with `loop.time()` one
 * hour later, and the order of events is exactly the order of their due times. It has no selector: use the
 * real loop for I/O. A TestLoop that would wait with nothing to wait for (no callback ready, no timer) raises
 * instead of hanging.
 *
 *     const loop = new TestLoop();
 *     loop.call_later(10, () => log.push(loop.time()));
 *     loop.advance_time(9); loop.run_once();   // nothing yet
 *     loop.advance_time(1); loop.run_once();   // fires at 10
 */
import { BaseEventLoop } from './base_events.js';
import { RuntimeError } from './errors.js';

export interface TestLoopOptions {
  /** The clock's starting value in seconds (default 0). */
  start?: number;
}

export class TestLoop extends BaseEventLoop {
  private _time: number;

  constructor(options?: TestLoopOptions) {
    super();
    this._time = options?.start ?? 0;
  }

  override time(): number {
    return this._time;
  }

  /** Moves the virtual clock forward by `seconds` (>= 0); due timers run at the next turn. */
  advance_time(seconds: number): void {
    if (typeof seconds !== 'number' || !(seconds >= 0)) throw new RangeError(`advance_time() needs seconds >= 0, got ${String(seconds)}`);
    this._time += seconds;
  }

  /** Runs one turn without moving the clock: what is ready now, and timers already due. */
  run_once(): void {
    this._check_closed();
    if (this.is_running()) throw new RuntimeError('This event loop is already running');
    this._run_once(0);
  }

  /** Where a real loop would block in its selector, jump the clock to the end of the wait instead. */
  protected _process_io(timeout: number | null): void {
    if (timeout === null) {
      throw new RuntimeError('TestLoop would wait forever: no callback is ready and no timer is scheduled');
    }
    if (timeout <= 0) return;
    const first = this._scheduled.peek();
    // Land exactly on the timer's due time: adding a float difference could fall a hair short of it.
    this._time = first !== undefined && this._time + timeout >= first._when ? Math.max(this._time, first._when) : this._time + timeout;
  }
}
