// The assertion uvu lacks: that a call throws an instance of a given class (optionally with a message
// matching a pattern); returns the error for further checks.
import * as assert from 'uvu/assert';

export function throws_a(fn: () => unknown, cls: Function, message?: RegExp): unknown {
  let caught: unknown = undefined;
  let threw = false;
  try {
    fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  assert.ok(threw, `expected ${cls.name}, but nothing was thrown`);
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  if (message) assert.match((caught as Error).message, message);
  return caught;
}
