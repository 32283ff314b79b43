/*
 * sel_epoll.c: the epoll selector backend (Linux only; elsewhere this file compiles to an empty
 * register_epoll).
 *
 * Why it exists: epoll costs O(ready) per wait instead of O(watched), which is what lets the loop keep
 * thousands of idle connections. Quirks the TypeScript selector must respect:
 * - epoll watches the open file description, not the fd number. If an fd is closed while registered,
 *   the kernel drops it silently, but only once every dup of it is closed; a dup'd fd can keep
 *   reporting events for a number that now means something else. So unregister BEFORE close, always.
 * - Once an fd is closed, EPOLL_CTL_DEL on its number fails with EBADF (or hits a reused number):
 *   treat EBADF/ENOENT on DEL as "already gone".
 * - EINTR (a signal, or a debugger attaching) comes back as -EINTR: the caller recomputes its timeout
 *   and waits again; it is not an error.
 * - Results use data.fd, so the caller maps fd -> key itself; registering the same description twice
 *   under two numbers is allowed and reports both.
 */
#include "util.h"

#ifdef __linux__
#include <stdlib.h>
#include <sys/epoll.h>

#define STACK_EVENTS 256 /* 3 KiB: enough for a typical wait without touching malloc */

static napi_value js_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  return tl_sysret(env, epoll_create1(EPOLL_CLOEXEC));
}

static napi_value js_epoll_ctl(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int epfd, op, fd;
  uint32_t events;
  if (!tl_args(env, info, 4, argv) || !tl_get_fd(env, argv[0], "epoll_ctl", "epfd", &epfd) ||
      !tl_get_i32(env, argv[1], "epoll_ctl", "op", &op) ||
      !tl_get_fd(env, argv[2], "epoll_ctl", "fd", &fd) ||
      !tl_get_mask(env, argv[3], "epoll_ctl", "events", &events))
    return NULL;
  struct epoll_event ev = {.events = events, .data = {.fd = fd}};
  return tl_sysret(env, epoll_ctl(epfd, op, fd, &ev));
}

static napi_value js_epoll_wait(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int epfd, timeout;
  int32_t *out;
  size_t outlen;
  if (!tl_args(env, info, 3, argv) || !tl_get_fd(env, argv[0], "epoll_wait", "epfd", &epfd) ||
      !tl_get_i32array(env, argv[1], "epoll_wait", "out", &out, &outlen) ||
      !tl_get_timeout(env, argv[2], "epoll_wait", &timeout))
    return NULL;
  size_t max = outlen / 2;
  if (max < 1) {
    tl_throw(env, true, "epoll_wait: out must have room for at least one [fd, events] pair");
    return NULL;
  }
  if (max > INT_MAX / sizeof(struct epoll_event)) max = INT_MAX / sizeof(struct epoll_event);

  struct epoll_event stack[STACK_EVENTS], *evs = stack;
  if (max > STACK_EVENTS && (evs = malloc(max * sizeof *evs)) == NULL) return tl_errno(env, ENOMEM);
  int n = epoll_wait(epfd, evs, (int)max, timeout);
  int e = errno;
  for (int i = 0; i < n; i++) {
    out[2 * i] = evs[i].data.fd;
    out[2 * i + 1] = (int32_t)evs[i].events;
  }
  if (evs != stack) free(evs);
  return n < 0 ? tl_errno(env, e) : tl_num(env, n);
}

bool register_epoll(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "epoll_create", js_epoll_create) &&
         tl_export_fn(env, exports, "epoll_ctl", js_epoll_ctl) &&
         tl_export_fn(env, exports, "epoll_wait", js_epoll_wait);
}

#else

bool register_epoll(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
  return true;
}

#endif
