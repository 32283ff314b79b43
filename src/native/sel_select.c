/*
 * sel_select.c: the select(2) selector backend.
 *
 * Why it exists: Tulip shipped a SelectSelector, and select is the one call every Unix has. Its hard
 * limit is the fixed-size fd_set: FD_SET on an fd >= FD_SETSIZE writes past the end of the set (glibc's
 * fortify aborts, others corrupt the stack), so such fds are refused with a RangeError before any
 * FD_SET, and the message says what to use instead.
 * Quirks:
 * - A closed fd in either set makes the whole call fail with EBADF (unlike poll's per-fd POLLNVAL); the
 *   caller must unregister before close.
 * - The sets are rebuilt from the caller's arrays on every call, because select overwrites them.
 * - EINTR returns -EINTR; the caller recomputes its timeout. (Linux also rewrites the timeval with the
 *   time left; we do not rely on that.)
 * - Output is one [fd, mask] pair per ready fd (mask 1 = readable, 2 = writable), so an fd that is in
 *   both lists, or twice in one, is reported once.
 */
#include "util.h"

#include <sys/select.h>
#include <sys/time.h>

static bool fill_set(napi_env env, const int32_t *fds, int64_t n, fd_set *set, int *maxfd) {
  FD_ZERO(set);
  for (int64_t i = 0; i < n; i++) {
    int fd = fds[i];
    if (fd < 0 || fd >= FD_SETSIZE)
      return TL_RANGE_ERROR(env, "select() cannot watch fd %d: FD_SETSIZE is %d; use poll or epoll", fd,
                            (int)FD_SETSIZE);
    FD_SET(fd, set);
    if (fd > *maxfd) *maxfd = fd;
  }
  return true;
}

static bool get_list(napi_env env, napi_value arr, napi_value count, const char *aname, const char *cname,
                     int32_t **fds, int64_t *n) {
  size_t len;
  if (!tl_get_i32array(env, arr, "select", aname, fds, &len) ||
      !tl_get_int(env, count, "select", cname, 0, INT32_MAX, n))
    return false;
  if ((uint64_t)*n > len)
    return TL_RANGE_ERROR(env, "select: %s > %s.length (%lld > %zu)", cname, aname, (long long)*n, len);
  return true;
}

static napi_value js_select(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t *rfds, *wfds, *out;
  int64_t nr, nw;
  size_t outlen;
  int timeout, maxfd = -1;
  fd_set rset, wset;
  if (!tl_args(env, info, 6, argv) || !get_list(env, argv[0], argv[1], "rfds", "nr", &rfds, &nr) ||
      !get_list(env, argv[2], argv[3], "wfds", "nw", &wfds, &nw) ||
      !tl_get_i32array(env, argv[4], "select", "out", &out, &outlen) ||
      !tl_get_timeout(env, argv[5], "select", &timeout))
    return NULL;
  if ((uint64_t)(nr + nw) > outlen / 2) {
    tl_throw(env, true, "select: out must have room for 2 * (nr + nw) = %lld ints, has %zu",
             (long long)(2 * (nr + nw)), outlen);
    return NULL;
  }
  if (!fill_set(env, rfds, nr, &rset, &maxfd) || !fill_set(env, wfds, nw, &wset, &maxfd)) return NULL;

  struct timeval tv, *tvp = NULL;
  if (timeout >= 0) {
    tv.tv_sec = timeout / 1000;
    tv.tv_usec = (timeout % 1000) * 1000;
    tvp = &tv;
  }
  int n = select(maxfd + 1, &rset, &wset, NULL, tvp);
  if (n < 0) return tl_errno(env, errno);

  int64_t written = 0;
  for (int pass = 0; pass < 2 && n > 0; pass++) {
    const int32_t *fds = pass == 0 ? rfds : wfds;
    int64_t count = pass == 0 ? nr : nw;
    for (int64_t i = 0; i < count; i++) {
      int fd = fds[i], mask = (FD_ISSET(fd, &rset) ? 1 : 0) | (FD_ISSET(fd, &wset) ? 2 : 0);
      if (!mask) continue;
      FD_CLR(fd, &rset); /* so the fd is not reported again from the other list */
      FD_CLR(fd, &wset);
      out[2 * written] = fd;
      out[2 * written + 1] = mask;
      written++;
    }
  }
  return tl_num(env, written);
}

bool register_select(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "select", js_select);
}
