/*
 * sockets.c: the BSD socket calls the loop needs, all non-blocking, none throwing on system errors.
 *
 * Why -errno instead of exceptions: on a non-blocking socket EAGAIN and EINPROGRESS are the normal case,
 * met many times per second; building and throwing an Error for each would dominate the I/O path.
 * Quirks handled here:
 * - SIGPIPE: writing to a socket whose peer has gone raises SIGPIPE, which would kill the process (Node
 *   ignores it, but a worker or an embedder may not). send/writev/sendto pass MSG_NOSIGNAL where it
 *   exists; on macOS every socket we create or accept gets SO_NOSIGPIPE instead.
 * - Fds are born non-blocking and close-on-exec (SOCK_NONBLOCK|SOCK_CLOEXEC, accept4); macOS lacks
 *   those flags, so fcntl follows there (racy against a concurrent fork+exec, the best that OS offers).
 * - writev tries sendmsg first so MSG_NOSIGNAL applies, and falls back to writev for pipes and ttys
 *   (ENOTSOCK).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include "sockaddr.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
#define TL_SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)
#else
#define TL_SOCK_FLAGS 0
#endif
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
#define TL_HAVE_ACCEPT4 1
#endif

#define WRITEV_MAX 1024 /* IOV_MAX on Linux and the BSDs; more than that is sent by the next call */
#define STACK_IOV 64

/* Whatever the creating call could not set atomically. Returns fd, or -1 with errno (fd closed). */
static int prep_socket(int fd) {
  if (fd < 0) return fd;
  bool ok = true;
#if !defined(SOCK_NONBLOCK) || !defined(SOCK_CLOEXEC) || !defined(TL_HAVE_ACCEPT4)
  int fl;
  ok = (fl = fcntl(fd, F_GETFL)) >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) >= 0 &&
       (fl = fcntl(fd, F_GETFD)) >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) >= 0;
#endif
#ifdef SO_NOSIGPIPE
  int one = 1;
  ok = ok && setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) == 0;
#endif
  if (!ok) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static napi_value js_socket(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int family, type, proto;
  if (!tl_args(env, info, 3, argv) || !tl_get_i32(env, argv[0], "socket", "family", &family) ||
      !tl_get_i32(env, argv[1], "socket", "type", &type) || !tl_get_i32(env, argv[2], "socket", "proto", &proto))
    return NULL;
  return tl_sysret(env, prep_socket(socket(family, type | TL_SOCK_FLAGS, proto)));
}

static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int family, type, proto, sv[2];
  if (!tl_args(env, info, 3, argv) || !tl_get_i32(env, argv[0], "socketpair", "family", &family) ||
      !tl_get_i32(env, argv[1], "socketpair", "type", &type) ||
      !tl_get_i32(env, argv[2], "socketpair", "proto", &proto))
    return NULL;
  if (socketpair(family, type | TL_SOCK_FLAGS, proto, sv) < 0) return tl_errno(env, errno);
  if (prep_socket(sv[0]) < 0) {
    int e = errno;
    close(sv[1]);
    return tl_errno(env, e);
  }
  if (prep_socket(sv[1]) < 0) {
    int e = errno;
    close(sv[0]);
    return tl_errno(env, e);
  }
  return tl_pair(env, tl_num(env, sv[0]), tl_num(env, sv[1]));
}

/* bind and connect share argument handling: (fd, family, addr). */
static napi_value addr_call(napi_env env, napi_callback_info info, const char *fn, bool is_bind) {
  napi_value argv[3];
  int fd, family, r;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (!tl_args(env, info, 3, argv) || !tl_get_fd(env, argv[0], fn, "fd", &fd) ||
      !tl_get_i32(env, argv[1], fn, "family", &family))
    return NULL;
  r = tl_parse_addr(env, fn, family, argv[2], &ss, &len);
  if (r == 0) return NULL;
  if (r < 0) return tl_errno(env, EAFNOSUPPORT);
  return tl_sysret(env, is_bind ? bind(fd, (struct sockaddr *)&ss, len) : connect(fd, (struct sockaddr *)&ss, len));
}

static napi_value js_bind(napi_env env, napi_callback_info info) { return addr_call(env, info, "bind", true); }
static napi_value js_connect(napi_env env, napi_callback_info info) {
  return addr_call(env, info, "connect", false);
}

static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, backlog;
  if (!tl_args(env, info, 2, argv) || !tl_get_fd(env, argv[0], "listen", "fd", &fd) ||
      !tl_get_i32(env, argv[1], "listen", "backlog", &backlog))
    return NULL;
  return tl_sysret(env, listen(fd, backlog));
}

static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1], addr;
  int fd, nfd;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "accept", "fd", &fd)) return NULL;
  memset(&ss, 0, sizeof ss);
#ifdef TL_HAVE_ACCEPT4
  nfd = prep_socket(accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
#else
  nfd = prep_socket(accept(fd, (struct sockaddr *)&ss, &len));
#endif
  if (nfd < 0) return tl_errno(env, errno);
  if ((addr = tl_make_addr(env, &ss, len)) == NULL) {
    close(nfd); /* an exception is pending; do not leak the connection */
    return NULL;
  }
  return tl_pair(env, tl_num(env, nfd), addr);
}

/* recv/send: (fd, buf, offset?, length?, flags?). Left out, offset is 0, length the rest of the buffer
 * and flags 0: the transports' hot path passes only what it must, since every argument is a conversion
 * on every call. An argument that is passed must be valid (undefined is not "left out"). */
static bool io_args(napi_env env, const char *fn, size_t argc, napi_value *argv, int *fd, uint8_t **p,
                    size_t *len, int *flags) {
  uint8_t *data;
  size_t buflen, off = 0;
  if (!tl_get_fd(env, argv[0], fn, "fd", fd) || !tl_get_bytes(env, argv[1], fn, "buf", &data, &buflen))
    return false;
  if (argc > 3) {
    if (!tl_get_span(env, argv[2], argv[3], buflen, fn, &off, len)) return false;
  } else {
    int64_t o = 0;
    if (argc > 2 && !tl_get_int(env, argv[2], fn, "offset", 0, (int64_t)buflen, &o)) return false;
    off = (size_t)o;
    *len = buflen - off;
  }
  *flags = 0;
  if (argc > 4 && !tl_get_i32(env, argv[4], fn, "flags", flags)) return false;
  *p = data + off;
  return true;
}

static napi_value js_recv(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  size_t argc = 5; /* set to the number passed; missing ones read as undefined */
  int fd, flags;
  uint8_t *p;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      !io_args(env, "recv", argc, argv, &fd, &p, &len, &flags))
    return NULL;
  return tl_sysret(env, recv(fd, p, len, flags));
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  size_t argc = 5; /* set to the number passed; missing ones read as undefined */
  int fd, flags;
  uint8_t *p;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      !io_args(env, "send", argc, argv, &fd, &p, &len, &flags))
    return NULL;
  return tl_sysret(env, send(fd, p, len, flags | MSG_NOSIGNAL));
}

static napi_value js_writev(napi_env env, napi_callback_info info) {
  napi_value argv[4], el;
  int fd;
  bool is = false;
  uint32_t alen = 0;
  int64_t count, first;
  if (!tl_args(env, info, 4, argv) || !tl_get_fd(env, argv[0], "writev", "fd", &fd)) return NULL;
  if (napi_is_array(env, argv[1], &is) != napi_ok || !is) {
    tl_throw(env, false, "writev: bufs must be an array of Uint8Array");
    return NULL;
  }
  TL_CALL(env, napi_get_array_length(env, argv[1], &alen));
  if (!tl_get_int(env, argv[2], "writev", "count", 0, alen, &count) ||
      !tl_get_int(env, argv[3], "writev", "first_offset", 0, INT64_MAX >> 11, &first))
    return NULL;
  if (count == 0) return tl_num(env, 0);
  if (count > WRITEV_MAX) count = WRITEV_MAX;

  struct iovec stack[STACK_IOV], *iov = stack;
  if (count > STACK_IOV && (iov = malloc((size_t)count * sizeof *iov)) == NULL) return tl_errno(env, ENOMEM);
  for (int64_t i = 0; i < count; i++) {
    napi_typedarray_type type;
    size_t n = 0;
    void *data = NULL;
    if (napi_get_element(env, argv[1], (uint32_t)i, &el) != napi_ok ||
        napi_is_typedarray(env, el, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, el, &type, &n, &data, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
      tl_throw(env, false, "writev: bufs[%lld] must be a Uint8Array", (long long)i);
      goto fail;
    }
    size_t skip = 0;
    if (i == 0) {
      if ((uint64_t)first > n) {
        tl_throw(env, true, "writev: first_offset (%lld) exceeds bufs[0].length (%zu)", (long long)first, n);
        goto fail;
      }
      skip = (size_t)first;
    }
    iov[i].iov_base = (uint8_t *)data + skip;
    iov[i].iov_len = n - skip;
  }
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = iov;
  msg.msg_iovlen = (size_t)count;
  ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (r < 0 && errno == ENOTSOCK) r = writev(fd, iov, (int)count);
  int e = errno;
  if (iov != stack) free(iov);
  return r < 0 ? tl_errno(env, e) : tl_num(env, r);
fail:
  if (iov != stack) free(iov);
  return NULL;
}

static napi_value js_sendto(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  int fd, flags, family, r;
  uint8_t *p;
  size_t len;
  struct sockaddr_storage ss;
  socklen_t alen = 0;
  if (!tl_args(env, info, 7, argv) || !io_args(env, "sendto", 5, argv, &fd, &p, &len, &flags) ||
      !tl_get_i32(env, argv[5], "sendto", "family", &family))
    return NULL;
  if ((r = tl_parse_addr(env, "sendto", family, argv[6], &ss, &alen)) == 0) return NULL;
  if (r < 0) return tl_errno(env, EAFNOSUPPORT);
  return tl_sysret(env, sendto(fd, p, len, flags | MSG_NOSIGNAL, (struct sockaddr *)&ss, alen));
}

static napi_value js_recvfrom(napi_env env, napi_callback_info info) {
  napi_value argv[5], addr;
  int fd, flags;
  uint8_t *p;
  size_t len;
  struct sockaddr_storage ss;
  socklen_t alen = sizeof ss;
  if (!tl_args(env, info, 5, argv) || !io_args(env, "recvfrom", 5, argv, &fd, &p, &len, &flags))
    return NULL;
  ssize_t n = recvfrom(fd, p, len, flags, (struct sockaddr *)&ss, &alen);
  if (n < 0) return tl_errno(env, errno);
  if (alen > sizeof ss) alen = sizeof ss; /* truncated: never read past our storage */
  if ((addr = tl_make_addr(env, &ss, alen)) == NULL) return NULL;
  return tl_pair(env, tl_num(env, n), addr);
}

static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd, how;
  if (!tl_args(env, info, 2, argv) || !tl_get_fd(env, argv[0], "shutdown", "fd", &fd) ||
      !tl_get_i32(env, argv[1], "shutdown", "how", &how))
    return NULL;
  return tl_sysret(env, shutdown(fd, how));
}

/* mode 0: getsockname as an address, 1: getpeername, 2: getsockname's family only. */
static napi_value name_call(napi_env env, napi_callback_info info, const char *fn, int mode) {
  napi_value argv[1];
  int fd, r;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], fn, "fd", &fd)) return NULL;
  memset(&ss, 0, sizeof ss);
  r = mode == 1 ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (r < 0) return tl_errno(env, errno);
  if (len > sizeof ss) len = sizeof ss;
  return mode == 2 ? tl_num(env, ss.ss_family) : tl_make_addr(env, &ss, len);
}

static napi_value js_getsockname(napi_env env, napi_callback_info info) {
  return name_call(env, info, "getsockname", 0);
}
static napi_value js_getpeername(napi_env env, napi_callback_info info) {
  return name_call(env, info, "getpeername", 1);
}
static napi_value js_getsockfamily(napi_env env, napi_callback_info info) {
  return name_call(env, info, "getsockfamily", 2);
}

static napi_value js_getsocktype(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd, type = 0;
  socklen_t len = sizeof type;
  if (!tl_args(env, info, 1, argv) || !tl_get_fd(env, argv[0], "getsocktype", "fd", &fd)) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return tl_errno(env, errno);
  return tl_num(env, type);
}

static napi_value js_setsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd, level, opt, ival;
  napi_valuetype t;
  const void *p;
  socklen_t len;
  if (!tl_args(env, info, 4, argv) || !tl_get_fd(env, argv[0], "setsockopt", "fd", &fd) ||
      !tl_get_i32(env, argv[1], "setsockopt", "level", &level) ||
      !tl_get_i32(env, argv[2], "setsockopt", "optname", &opt))
    return NULL;
  TL_CALL(env, napi_typeof(env, argv[3], &t));
  if (t == napi_number) {
    if (!tl_get_i32(env, argv[3], "setsockopt", "value", &ival)) return NULL;
    p = &ival;
    len = sizeof ival;
  } else {
    napi_typedarray_type type;
    bool is = false;
    size_t n = 0;
    void *data = NULL;
    if (napi_is_typedarray(env, argv[3], &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, argv[3], &type, &n, &data, NULL, NULL) != napi_ok ||
        type != napi_uint8_array) {
      tl_throw(env, false, "setsockopt: value must be a number or a Uint8Array");
      return NULL;
    }
    if (n > 65536) {
      tl_throw(env, true, "setsockopt: value is too long (%zu bytes)", n);
      return NULL;
    }
    p = data;
    len = (socklen_t)n;
  }
  return tl_sysret(env, setsockopt(fd, level, opt, p, len));
}

static napi_value js_getsockopt(napi_env env, napi_callback_info info) {
  napi_value argv[4], r;
  int fd, level, opt;
  int64_t buflen;
  if (!tl_args(env, info, 4, argv) || !tl_get_fd(env, argv[0], "getsockopt", "fd", &fd) ||
      !tl_get_i32(env, argv[1], "getsockopt", "level", &level) ||
      !tl_get_i32(env, argv[2], "getsockopt", "optname", &opt))
    return NULL;
  if (tl_is_undefined(env, argv[3])) {
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, level, opt, &v, &len) < 0) return tl_errno(env, errno);
    return tl_num(env, v);
  }
  if (!tl_get_int(env, argv[3], "getsockopt", "buflen", 1, 1024, &buflen)) return NULL;
  uint8_t buf[1024];
  socklen_t len = (socklen_t)buflen;
  memset(buf, 0, sizeof buf);
  if (getsockopt(fd, level, opt, buf, &len) < 0) return tl_errno(env, errno);
  if (len > (socklen_t)buflen) len = (socklen_t)buflen;
  TL_CALL(env, napi_create_buffer_copy(env, len, buf, NULL, &r));
  return r;
}

bool register_sockets(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"socket", js_socket},           {"socketpair", js_socketpair},   {"bind", js_bind},
      {"connect", js_connect},         {"listen", js_listen},           {"accept", js_accept},
      {"recv", js_recv},               {"send", js_send},               {"writev", js_writev},
      {"sendto", js_sendto},           {"recvfrom", js_recvfrom},       {"shutdown", js_shutdown},
      {"getsockname", js_getsockname}, {"getpeername", js_getpeername}, {"getsockfamily", js_getsockfamily},
      {"getsocktype", js_getsocktype}, {"setsockopt", js_setsockopt},   {"getsockopt", js_getsockopt},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (!tl_export_fn(env, exports, fns[i].name, fns[i].cb)) return false;
  return true;
}
