// Functions that executor.test.ts runs in worker threads (by URL: a job is a named export of a module).
import { threadId } from 'node:worker_threads';
import { os_error } from '../../src/errors.js';

export function add(a: number, b: number): number {
  return a + b;
}

/** Which thread ran the job (0 is the main thread). */
export function thread_id(): number {
  return threadId;
}

export async function double_later(x: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return 2 * x;
}

export function throw_type_error(message: string): never {
  throw new TypeError(message);
}

export function throw_os_error(errnum: number): never {
  throw os_error(errnum, 'some/file');
}

class ParseError extends Error {
  override name = 'ParseError';
  line = 42;
}

export function throw_custom(): never {
  throw new ParseError('bad input');
}

export function return_function(): unknown {
  return () => 1;
}

/** Blocks this worker for `ms` milliseconds (a stand-in for a slow system call). */
export function block(ms: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return ms;
}

/**
 * Marks cell[0] = 1 (started), then blocks until another thread sets cell[1] to non-zero (or 10 s pass).
 * Returns 'released' or 'timeout'.
 */
export function block_until_released(cell: Int32Array): string {
  Atomics.store(cell, 0, 1);
  Atomics.notify(cell, 0);
  const r = Atomics.wait(cell, 1, 0, 10_000);
  return r === 'timed-out' ? 'timeout' : 'released';
}
