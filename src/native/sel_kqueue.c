/*
 * sel_kqueue.c: the kqueue selector backend (macOS and the BSDs; on Linux this file compiles to a
 * register_kqueue that registers nothing).
 *
 * Why it exists: kqueue is the O(ready) interface of the BSD family, as epoll is Linux's. Unlike epoll,
 * readability and writability are two separate filters (EVFILT_READ, EVFILT_WRITE) registered as two
 * kevents on the same fd, and each comes back as its own event.
 * Quirks:
 * - close() removes every kevent of that fd automatically (kqueue tracks the fd number, not the open
 *   file), so after a close an EV_DELETE fails with ENOENT/EBADF: treat that as "already gone".
 * - A change that fails is reported in the output list with EV_ERROR set (its errno is in the kernel's
 *   data field, which this triple format does not carry) rather than failing the whole call, as long as
 *   out has room; with no room, kevent() itself fails with that errno.
 * - A kqueue fd is not inherited across fork(); ours are close-on-exec anyway.
 * - EINTR returns -EINTR; the changes were applied before the wait, so the caller must not resubmit them.
 */
#include "util.h"

#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#define STACK_KEVENTS 64

static napi_value js_kqueue_create(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __NetBSD__
  int kq = kqueue1(O_CLOEXEC);
#else
  /* kqueue descriptors are never inherited by fork'd children; FD_CLOEXEC covers exec-without-fork. */
  int kq = kqueue();
  if (kq >= 0 && fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
    int e = errno;
    close(kq);
    return tl_errno(env, e);
  }
#endif
  return tl_sysret(env, kq);
}

static napi_value js_kevent(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int kq, timeout;
  int32_t *ch, *out;
  size_t chlen, outlen;
  int64_t nch;
  if (!tl_args(env, info, 5, argv) || !tl_get_fd(env, argv[0], "kevent", "kq", &kq) ||
      !tl_get_i32array(env, argv[1], "kevent", "changes", &ch, &chlen) ||
      !tl_get_int(env, argv[2], "kevent", "nchanges", 0, INT32_MAX, &nch) ||
      !tl_get_i32array(env, argv[3], "kevent", "out", &out, &outlen) ||
      !tl_get_timeout(env, argv[4], "kevent", &timeout))
    return NULL;
  if ((uint64_t)nch > chlen / 3) {
    tl_throw(env, true, "kevent: changes holds %zu [fd, filter, flags] triples, fewer than nchanges (%lld)",
             chlen / 3, (long long)nch);
    return NULL;
  }
  for (int64_t i = 0; i < nch; i++) {
    int32_t fd = ch[3 * i], filter = ch[3 * i + 1], flags = ch[3 * i + 2];
    if (fd < 0 || filter < INT16_MIN || filter > INT16_MAX || flags < 0 || flags > UINT16_MAX) {
      tl_throw(env, true, "kevent: change %lld has a bad fd, filter or flags (%d, %d, %d)", (long long)i, fd,
               filter, flags);
      return NULL;
    }
  }
  size_t max = outlen / 3;
  if (max > INT_MAX / sizeof(struct kevent)) max = INT_MAX / sizeof(struct kevent);

  struct kevent cstack[STACK_KEVENTS], estack[STACK_KEVENTS], *cl = cstack, *el = estack;
  if (nch > STACK_KEVENTS && (cl = malloc((size_t)nch * sizeof *cl)) == NULL) return tl_errno(env, ENOMEM);
  if (max > STACK_KEVENTS && (el = malloc(max * sizeof *el)) == NULL) {
    if (cl != cstack) free(cl);
    return tl_errno(env, ENOMEM);
  }
  for (int64_t i = 0; i < nch; i++)
    EV_SET(&cl[i], (uintptr_t)ch[3 * i], (short)ch[3 * i + 1], (unsigned short)ch[3 * i + 2], 0, 0, 0);

  struct timespec ts, *tsp = NULL;
  if (timeout >= 0) {
    ts.tv_sec = timeout / 1000;
    ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
    tsp = &ts;
  }
  int n = kevent(kq, cl, (int)nch, el, (int)max, tsp);
  int e = errno;
  for (int i = 0; i < n; i++) {
    out[3 * i] = (int32_t)el[i].ident;
    out[3 * i + 1] = el[i].filter;
    out[3 * i + 2] = el[i].flags;
  }
  if (cl != cstack) free(cl);
  if (el != estack) free(el);
  return n < 0 ? tl_errno(env, e) : tl_num(env, n);
}

bool register_kqueue(napi_env env, napi_value exports, napi_value constants) {
  return tl_export_fn(env, exports, "kqueue_create", js_kqueue_create) &&
         tl_export_fn(env, exports, "kevent", js_kevent) &&
         tl_set_int(env, constants, "EVFILT_READ", EVFILT_READ) &&
         tl_set_int(env, constants, "EVFILT_WRITE", EVFILT_WRITE) &&
         tl_set_int(env, constants, "EV_ADD", EV_ADD) && tl_set_int(env, constants, "EV_DELETE", EV_DELETE) &&
         tl_set_int(env, constants, "EV_ENABLE", EV_ENABLE) &&
         tl_set_int(env, constants, "EV_DISABLE", EV_DISABLE) &&
         tl_set_int(env, constants, "EV_ONESHOT", EV_ONESHOT) &&
         tl_set_int(env, constants, "EV_CLEAR", EV_CLEAR) && tl_set_int(env, constants, "EV_EOF", EV_EOF) &&
         tl_set_int(env, constants, "EV_ERROR", EV_ERROR);
}

#else

bool register_kqueue(napi_env env, napi_value exports, napi_value constants) {
  (void)env;
  (void)exports;
  (void)constants;
  return true;
}

#endif
