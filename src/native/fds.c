/*
 * fds.c: plain file-descriptor operations (close, pipe, read, write, dup, flags) and the loop's wake-up
 * channel.
 *
 * Every fd created here is non-blocking and close-on-exec from birth (pipe2, F_DUPFD_CLOEXEC, dup3,
 * eventfd flags) so that a child spawned by another thread between creation and an fcntl() cannot
 * inherit it. Failures come back as -errno; only bad arguments throw.
 *
 * wakeup_create/signal/drain are plain system calls with no JS state, so a worker_thread (or a signal
 * handler's thread) can call wakeup_signal while the main thread blocks in epoll_wait/poll/select.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, dup3 */
#endif
#include "util.h"

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#define TL_HAVE_EVENTFD 1
#endif
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define TL_HAVE_PIPE2 1
#endif

#if !defined(TL_HAVE_PIPE2) || !defined(__linux__)
/* Used only where the atomic flag variants are missing (macOS pipe(), dup2()). */
static int set_fd_flags(int fd, bool nonblock) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return -1;
  if (!nonblock) return 0;
  fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
  return 0;
}
#endif

static int make_pipe(int fds[2]) {
#ifdef TL_HAVE_PIPE2
  return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
#else
  if (pipe(fds) < 0) return -1;
  if (set_fd_flags(fds[0], true) < 0 || set_fd_flags(fds[1], true) < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    errno = e;
    return -1;
  }
  return 0;
#endif
}

static napi_value fd_pair(napi_env env, int a, int b) { return tl_pair(env, tl_num(env, a), tl_num(env, b)); }

/* close() is never retried on EINTR: Linux (and most kernels) release the descriptor before the
 * interrupted flush, so the number may already belong to a file another thread just opened, and a retry
 * would close that one. EINTR therefore reports success here: the fd is gone either way. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "close", "fd", &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return tl_errno(env, errno);
  return tl_num(env, 0);
}

static napi_value js_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  (void)info;
  if (make_pipe(fds) < 0) return tl_errno(env, errno);
  return fd_pair(env, fds[0], fds[1]);
}

static napi_value rw(napi_env env, napi_callback_info info, const char *fn, bool writing) {
  napi_value argv[4];
  int fd;
  uint8_t *data;
  size_t buflen, off, len;
  if (!tl_args(env, info, 4, argv) || !tl_get_fd(env, argv[0], fn, "fd", &fd) ||
      !tl_get_bytes(env, argv[1], fn, "buf", &data, &buflen) ||
      !tl_get_span(env, argv[2], argv[3], buflen, fn, &off, &len))
    return NULL;
  ssize_t n = writing ? write(fd, data + off, len) : read(fd, data + off, len);
  return tl_sysret(env, n);
}

static napi_value js_read(napi_env env, napi_callback_info info) { return rw(env, info, "read", false); }
static napi_value js_write(napi_env env, napi_callback_info info) { return rw(env, info, "write", true); }

static napi_value js_set_nonblocking(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  bool on;
  if (!tl_args(env, info, 2, argv) || !tl_get_fd(env, argv[0], "set_nonblocking", "fd", &fd) ||
      !tl_get_bool(env, argv[1], "set_nonblocking", "flag", &on))
    return NULL;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return tl_errno(env, errno);
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0) return tl_errno(env, errno);
  return tl_num(env, 0);
}

static napi_value js_set_cloexec(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "set_cloexec", "fd", &fd)) return NULL;
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return tl_errno(env, errno);
  return tl_num(env, 0);
}

/* An eventfd is one fd instead of two and can never fill up (the counter just grows), so a burst of
 * wake-ups costs nothing. Elsewhere a non-blocking self-pipe does the same job. */
static napi_value js_wakeup_create(napi_env env, napi_callback_info info) {
#ifdef TL_HAVE_EVENTFD
  (void)info;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return tl_errno(env, errno);
  return fd_pair(env, fd, fd);
#else
  return js_pipe(env, info);
#endif
}

/* EAGAIN means the eventfd counter or the pipe is full: a wake-up is already pending, which is all a
 * signal has to guarantee. EINTR is retried here because the write cannot block. */
static napi_value js_wakeup_signal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  ssize_t n;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "wakeup_signal", "writefd", &fd))
    return NULL;
#ifdef TL_HAVE_EVENTFD
  uint64_t one = 1; /* an eventfd only accepts 8-byte writes */
#else
  uint8_t one = 1;
#endif
  do n = write(fd, &one, sizeof one); while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return tl_errno(env, errno);
  return tl_num(env, 0);
}

/* One read resets an eventfd; a pipe may hold many bytes. Reading until EAGAIN handles both. */
static napi_value js_wakeup_drain(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  uint8_t buf[256];
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "wakeup_drain", "readfd", &fd))
    return NULL;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n == 0) break; /* write end of the pipe closed: nothing more will come */
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return tl_errno(env, errno);
  }
  return tl_num(env, 0);
}

static napi_value js_dup(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "dup", "fd", &fd)) return NULL;
  return tl_sysret(env, fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

/* For tests (and fd placement): puts a copy of fd at exactly `target`, closing what was there. */
static napi_value js_dup2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, target, r;
  if (!tl_args(env, info, 2, argv) || !tl_get_fd(env, argv[0], "dup2", "fd", &fd) ||
      !tl_get_fd(env, argv[1], "dup2", "target", &target))
    return NULL;
  if (fd == target) { /* dup3 refuses this case; answer as dup2 would: fine if fd is open */
    if (fcntl(fd, F_GETFD) < 0) return tl_errno(env, errno);
    return tl_num(env, target);
  }
#ifdef __linux__
  do r = dup3(fd, target, O_CLOEXEC); while (r < 0 && errno == EINTR);
#else
  do r = dup2(fd, target); while (r < 0 && errno == EINTR);
  if (r >= 0 && set_fd_flags(r, false) < 0) {
    int e = errno;
    close(r);
    return tl_errno(env, e);
  }
#endif
  return tl_sysret(env, r);
}

static napi_value js_fd_is_open(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int fd;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "fd_is_open", "fd", &fd)) return NULL;
  bool open = fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
  TL_CALL(env, napi_get_boolean(env, open, &r));
  return r;
}

bool register_fds(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "close", js_close) && tl_export_fn(env, exports, "pipe", js_pipe) &&
         tl_export_fn(env, exports, "read", js_read) && tl_export_fn(env, exports, "write", js_write) &&
         tl_export_fn(env, exports, "set_nonblocking", js_set_nonblocking) &&
         tl_export_fn(env, exports, "set_cloexec", js_set_cloexec) &&
         tl_export_fn(env, exports, "wakeup_create", js_wakeup_create) &&
         tl_export_fn(env, exports, "wakeup_signal", js_wakeup_signal) &&
         tl_export_fn(env, exports, "wakeup_drain", js_wakeup_drain) &&
         tl_export_fn(env, exports, "dup", js_dup) && tl_export_fn(env, exports, "dup2", js_dup2) &&
         tl_export_fn(env, exports, "fd_is_open", js_fd_is_open);
}
