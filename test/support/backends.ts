// Helpers shared by the loop tests: every selector backend of this platform, a loop per backend, pipes
// that are always closed, and a logger capture.
import { binding } from '../../src/binding.js';
import {
  SelectorEventLoop, available_selectors, logger, type BaseSelector, type LogRecord,
} from '../../src/index.js';
import type { IoHandles } from '../../src/selector_events.js';

export const backends = available_selectors.map((cls) => ({
  name: cls.name,
  make_selector: () => new (cls as new () => BaseSelector<IoHandles>)(),
  make_loop: () => new SelectorEventLoop(new (cls as new () => BaseSelector<IoHandles>)()),
}));

/** A non-blocking pipe; `close()` closes whatever end is still open. */
export function make_pipe(): { r: number; w: number; close(): void } {
  const fds = binding.pipe();
  if (typeof fds === 'number') throw new Error(`pipe() failed: ${fds}`);
  const [r, w] = fds;
  return {
    r,
    w,
    close() {
      binding.close(r);
      binding.close(w);
    },
  };
}

export function write_byte(fd: number): void {
  if (binding.write(fd, new Uint8Array([120]), 0, 1) !== 1) throw new Error('write failed');
}

/** Runs fn with the logger capturing records; returns them. */
export function capture_logs(fn: () => void): LogRecord[] {
  const records: LogRecord[] = [];
  const saved = logger.handler;
  logger.handler = (r) => records.push(r);
  try {
    fn();
  } finally {
    logger.handler = saved;
  }
  return records;
}

/** The fds open in this process (Linux /proc), for leak checks. */
export function open_fds(): Set<number> {
  const out = new Set<number>();
  for (let fd = 0; fd < 4096; fd++) if (binding.fd_is_open(fd)) out.add(fd);
  return out;
}
