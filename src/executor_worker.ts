/**
 * The entry of a ThreadPoolExecutor worker thread (see src/executor.ts for the protocol's other half).
 *
 * Jobs arrive as 'message' events on `parentPort` (this thread's own Node loop is free to turn): `{id,
 * module, name, args}`. The worker imports `module` (a URL; cached by the module system after the first
 * job), calls its export `name` with `args`, awaits the value if it is a promise, and answers on the
 * result port `{id, ok: true, value}` or `{id, ok: false, error}`. Then it wakes whoever waits:
 * - it bumps the shared completion counter and `Atomics.notify`s it (a thread blocked in
 *   `ConcurrentFuture.result()` or `shutdown(true)`),
 * - it signals the wake-up fd of every loop that uses this executor (`binding.wakeup_signal`): the loop
 *   thread is blocked in epoll and collects the answer with `receiveMessageOnPort` in its wake-up
 *   listener. The fd table is read under a spin lock, so a loop that closes (and unregisters its fd
 *   under the same lock) can never have a stale, reused fd number written to.
 *
 * Errors do not survive structured cloning with their class or extra fields, so they travel as
 * `SerializedError` records and src/executor.ts rebuilds them (OSError subclasses from `errno`).
 *
 * This module must stay light: it never imports the loop side (futures, events).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { binding } from './binding.js';

/** Layout of the executor's shared Int32Array (kept in sync with src/executor.ts). */
export const WAKE_LOCK = 0;
export const WAKE_COUNTER = 1;
export const WAKE_SLOTS = 2;
export const WAKE_NSLOTS = 64;

export interface Job {
  id: number;
  module: string;
  name: string;
  args: unknown[];
}

/** An error as it crosses threads. */
export interface SerializedError {
  __tulip_error__: 1;
  name: string;
  message: string;
  stack: string | undefined;
  /** Own enumerable properties that survived cloning one by one (errno, code, strerror, filename, ...). */
  props: Record<string, unknown>;
}

export type JobResult = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };

export interface WorkerData {
  result_port: MessagePort;
  wake: SharedArrayBuffer;
  /** URL of tsx's ESM API, or null when tsx is not installed. */
  tsx_api: string | null;
  /** True when the bootstrap already registered tsx (this entry is a .ts file). */
  tsx_registered: boolean;
}

export function serialize_error(e: unknown): unknown {
  if (!(e instanceof Error)) {
    try {
      structuredClone(e);
      return e;
    } catch {
      return serialize_error(new Error(`a non-cloneable value was thrown: ${String(e)}`));
    }
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(e)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    const value = (e as unknown as Record<string, unknown>)[key];
    try {
      props[key] = structuredClone(value);
    } catch {
      // leave out what cannot cross (functions, sockets, ...)
    }
  }
  return { __tulip_error__: 1, name: e.name, message: e.message, stack: e.stack, props } satisfies SerializedError;
}

function main(data: WorkerData): void {
  const port = data.result_port;
  const wake = new Int32Array(data.wake);
  let tsx_registered = data.tsx_registered;
  let busy = false;
  let quitting = false;

  const signal = (): void => {
    Atomics.add(wake, WAKE_COUNTER, 1);
    Atomics.notify(wake, WAKE_COUNTER);
    while (Atomics.compareExchange(wake, WAKE_LOCK, 0, 1) !== 0) { /* spin: the holder does one syscall at most */ }
    try {
      for (let i = 0; i < WAKE_NSLOTS; i++) {
        const fd = Atomics.load(wake, WAKE_SLOTS + i);
        if (fd >= 0) binding.wakeup_signal(fd);
      }
    } finally {
      Atomics.store(wake, WAKE_LOCK, 0);
    }
  };

  const answer = (result: JobResult, name: string): void => {
    try {
      port.postMessage(result);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const what = result.ok ? `the result of ${name}()` : `the exception raised by ${name}()`;
      port.postMessage({
        id: result.id,
        ok: false,
        error: serialize_error(new TypeError(`${what} cannot be sent back to the loop thread (${why}): results must be structured-cloneable`)),
      } satisfies JobResult);
    }
    signal();
  };

  const run = async (job: Job): Promise<unknown> => {
    if (!tsx_registered && /\.[cm]?tsx?$/.test(new URL(job.module).pathname) && data.tsx_api !== null) {
      const api = (await import(data.tsx_api)) as { register(): unknown };
      api.register();
      tsx_registered = true;
    }
    const mod = (await import(job.module)) as Record<string, unknown>;
    const fn = mod[job.name];
    if (typeof fn !== 'function') {
      throw new TypeError(`${job.module} has no exported function named '${job.name}' (executor jobs must be named exports of an ES module)`);
    }
    return await (fn as (...args: unknown[]) => unknown)(...job.args);
  };

  parentPort!.on('message', (job: Job | 'quit') => {
    // The executor shut down: exit once the job in hand (an async one may still be pending) is answered.
    // Never in the middle of signal(), which holds the wake-up table's lock.
    if (job === 'quit') {
      quitting = true;
      if (!busy) process.exit(0);
      return;
    }
    busy = true;
    const done = (result: JobResult): void => {
      busy = false;
      answer(result, job.name);
      if (quitting) process.exit(0);
    };
    run(job).then(
      (value) => done({ id: job.id, ok: true, value }),
      (error: unknown) => done({ id: job.id, ok: false, error: serialize_error(error) }),
    );
  });
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object' && 'result_port' in workerData) {
  main(workerData as WorkerData);
}
