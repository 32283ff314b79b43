// The selectors interface, run against every backend of this platform with real pipes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { binding } from '../src/binding.js';
import {
  DefaultSelector, EVENT_READ, EVENT_WRITE, KeyError, OSError, RuntimeError, SelectSelector,
} from '../src/index.js';
import { backends, make_pipe, write_byte } from './support/backends.js';

for (const { name, make_selector } of backends) {
  test(`${name}: register / get_key / get_map / modify / unregister`, () => {
    const sel = make_selector();
    const p = make_pipe();
    try {
      const key = sel.register(p.r, EVENT_READ, 'data' as never);
      assert.equal([key.fd, key.events, key.data], [p.r, EVENT_READ, 'data']);
      assert.is(sel.get_key(p.r), key);
      assert.is(sel.get_map().size, 1);
      assert.throws(() => sel.register(p.r, EVENT_READ), (e: unknown) => e instanceof KeyError);
      const k2 = sel.modify(p.r, EVENT_READ, 'other' as never);
      assert.is(k2.data, 'other');
      assert.is(sel.unregister(p.r), k2);
      assert.throws(() => sel.unregister(p.r), (e: unknown) => e instanceof KeyError);
      assert.throws(() => sel.get_key(p.r), (e: unknown) => e instanceof KeyError);
    } finally {
      sel.close();
      p.close();
    }
  });

  test(`${name}: readiness of a pipe, with file objects that have fileno()`, () => {
    const sel = make_selector();
    const p = make_pipe();
    try {
      const reader = { fileno: () => p.r };
      sel.register(reader, EVENT_READ);
      sel.register(p.w, EVENT_WRITE);
      let events = sel.select(0);
      assert.equal(events.map(([k, ev]) => [k.fd, ev]), [[p.w, EVENT_WRITE]]);
      write_byte(p.w);
      events = sel.select(null);
      const got = new Map(events.map(([k, ev]) => [k.fd, ev]));
      assert.is(got.get(p.r), EVENT_READ);
      assert.is(got.get(p.w), EVENT_WRITE);
      assert.is(events.find(([k]) => k.fd === p.r)![0].fileobj, reader);
      sel.modify(p.w, EVENT_READ);
      assert.equal(sel.select(0).map(([k]) => k.fd), [p.r]);
    } finally {
      sel.close();
      p.close();
    }
  });

  test(`${name}: a timeout ends the wait with no events`, () => {
    const sel = make_selector();
    const p = make_pipe();
    try {
      sel.register(p.r, EVENT_READ);
      assert.equal(sel.select(0), []);
      assert.equal(sel.select(0.005), []);
      assert.equal(sel.select(-1), []);
    } finally {
      sel.close();
      p.close();
    }
  });

  test(`${name}: bad input gets clear errors`, () => {
    const sel = make_selector();
    const p = make_pipe();
    try {
      assert.throws(() => sel.register(-1, EVENT_READ), (e: unknown) => e instanceof RangeError && /Invalid file descriptor: -1/.test(String(e)));
      assert.throws(() => sel.register('3' as never, EVENT_READ), (e: unknown) => e instanceof TypeError);
      assert.throws(() => sel.register({ fileno: () => 1.5 }, EVENT_READ), (e: unknown) => e instanceof TypeError);
      assert.throws(() => sel.register(p.r, 0), /Invalid events: 0/);
      assert.throws(() => sel.register(p.r, 4), /Invalid events: 4/);
      assert.throws(() => sel.select('soon' as never), (e: unknown) => e instanceof TypeError);
      assert.is(sel.get_map().size, 0, 'failed registrations leave nothing behind');
    } finally {
      sel.close();
      p.close();
    }
  });

  test(`${name}: a closed selector refuses to work`, () => {
    const sel = make_selector();
    sel.close();
    sel.close();
    assert.throws(() => sel.select(0), (e: unknown) => e instanceof RuntimeError && /closed/.test(String(e)));
    assert.throws(() => sel.register(0, EVENT_READ), (e: unknown) => e instanceof RuntimeError);
  });
}

test('epoll: registering a closed fd is an OSError with EBADF', () => {
  if (!binding.epoll_create) return;
  const sel = new DefaultSelector();
  const p = make_pipe();
  p.close();
  try {
    assert.throws(() => sel.register(p.r, EVENT_READ), (e: unknown) => e instanceof OSError && e.code === 'EBADF' && e.errno === binding.errno_codes['EBADF']);
    assert.is(sel.get_map().size, 0);
  } finally {
    sel.close();
  }
});

test('select: an fd at or above FD_SETSIZE is refused at register()', () => {
  const sel = new SelectSelector();
  const p = make_pipe();
  const high = binding.constants.FD_SETSIZE + 10;
  const r = binding.dup2(p.r, high);
  try {
    assert.is(r, high);
    assert.throws(() => sel.register(high, EVENT_READ), (e: unknown) => e instanceof RangeError && /FD_SETSIZE/.test(String(e)));
  } finally {
    binding.close(high);
    sel.close();
    p.close();
  }
});

test('DefaultSelector is epoll on Linux', () => {
  if (process.platform === 'linux') assert.is(DefaultSelector.name, 'EpollSelector');
});

test.run();
