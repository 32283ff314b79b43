/*
 * sel_poll.c: the poll(2) selector backend, available on every POSIX system.
 *
 * Why it exists: it is the portable fallback with no FD_SETSIZE ceiling, and the reference the other
 * backends are tested against. The whole interest set is passed on every call (O(watched) per wait),
 * so the TypeScript side keeps a flat Int32Array of [fd, events] pairs and rebuilds it only on change.
 * Quirks:
 * - A closed fd left in the set is not an error: it comes back with POLLNVAL. The caller must
 *   unregister before close, or it will see POLLNVAL forever (or, after fd reuse, the new file's events).
 * - A negative fd in the set is ignored by the kernel (revents 0); we reject it earlier as a RangeError.
 * - EINTR returns -EINTR; the caller recomputes its timeout and polls again.
 * - Only entries with revents != 0 are reported; if out is too small the rest are dropped from this
 *   call and, poll being level-triggered, reported by the next one.
 */
#include "util.h"

#include <poll.h>
#include <stdlib.h>

#define STACK_FDS 64

static napi_value js_poll(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t *fds, *out;
  size_t fdslen, outlen;
  int64_t nfds;
  int timeout;
  if (!tl_args(env, info, 4, argv) || !tl_get_i32array(env, argv[0], "poll", "fds", &fds, &fdslen) ||
      !tl_get_int(env, argv[1], "poll", "nfds", 0, INT32_MAX, &nfds) ||
      !tl_get_i32array(env, argv[2], "poll", "out", &out, &outlen) ||
      !tl_get_timeout(env, argv[3], "poll", &timeout))
    return NULL;
  if ((uint64_t)nfds > fdslen / 2) {
    tl_throw(env, true, "poll: fds holds %zu [fd, events] pairs, fewer than nfds (%lld)", fdslen / 2,
             (long long)nfds);
    return NULL;
  }
  for (int64_t i = 0; i < nfds; i++) {
    if (fds[2 * i] < 0) {
      tl_throw(env, true, "poll: fds[%lld] is a negative fd (%d)", (long long)(2 * i), fds[2 * i]);
      return NULL;
    }
  }

  struct pollfd stack[STACK_FDS], *pfds = stack;
  if (nfds > STACK_FDS && (pfds = malloc((size_t)nfds * sizeof *pfds)) == NULL)
    return tl_errno(env, ENOMEM);
  for (int64_t i = 0; i < nfds; i++) {
    pfds[i].fd = fds[2 * i];
    pfds[i].events = (short)fds[2 * i + 1];
    pfds[i].revents = 0;
  }
  int n = poll(pfds, (nfds_t)nfds, timeout);
  int e = errno;
  size_t written = 0, room = outlen / 2;
  for (int64_t i = 0; n > 0 && i < nfds && written < room; i++) {
    if (pfds[i].revents == 0) continue;
    out[2 * written] = pfds[i].fd;
    out[2 * written + 1] = (uint16_t)pfds[i].revents;
    written++;
  }
  if (pfds != stack) free(pfds);
  return n < 0 ? tl_errno(env, e) : tl_num(env, (int64_t)written);
}

bool register_poll(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "poll", js_poll);
}
