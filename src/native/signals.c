/*
 * signals.c: Unix signal delivery to an event loop, Python's `signal.set_wakeup_fd` way.
 *
 * A sigaction handler (SA_RESTART) writes the signal number as one byte to a non-blocking pipe chosen
 * per signal; the loop watches the pipe's read end like any reader, so a signal ends a wait in
 * epoll_wait/poll/select and its handlers run as ordinary callbacks on the loop thread. The handler does
 * nothing but write() (async-signal-safe) and saves/restores errno, so it may run on any thread of the
 * process (the kernel picks one that does not block the signal; Node has several).
 *
 * Why not signalfd: it only sees signals blocked in every thread, and Node's threads exist before the
 * addon loads. Why not process.on('SIGxxx'): libuv delivers those through Node's own loop, which does not
 * turn while our loop blocks.
 *
 * Coexisting with Node: installing saves the previous sigaction (Node's or libuv's handler, SIG_IGN for
 * SIGPIPE, SIG_DFL, ...) and restoring puts exactly that back. What we cannot prevent: libuv installing
 * its own handler over ours (process.on('SIGUSR2') while a tulip handler is installed) or resetting the
 * signal to SIG_DFL when its last listener goes; do not use both for the same signal at the same time.
 *
 * This is the one file of the addon with process-wide state (dispositions are process-wide): one target
 * fd and one saved action per signal. The TypeScript side allows it from the main thread only, so no two
 * JS contexts race on these tables.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#ifndef NSIG
#define NSIG 65
#endif

/* Where the handler writes each signal's number, stored as fd + 1 so that the zero-initialised table
 * means "nowhere" without an init step. Atomic: the handler reads it on any thread. */
static atomic_int target_fd1[NSIG];
static struct sigaction saved_action[NSIG];
static bool installed[NSIG];

static void tl_signal_handler(int sig) {
  int saved_errno = errno;
  if (sig > 0 && sig < NSIG) {
    int fd = atomic_load_explicit(&target_fd1[sig], memory_order_relaxed) - 1;
    if (fd >= 0) {
      unsigned char b = (unsigned char)sig;
      /* A full pipe (EAGAIN) means wake-ups are already pending: dropping this byte loses a count, not
       * the delivery, as with any Unix signal, which never queues. */
      ssize_t r = write(fd, &b, 1);
      (void)r;
    }
  }
  errno = saved_errno;
}

static bool get_signum(napi_env env, napi_value v, const char *fn, int *out) {
  int64_t s;
  if (!tl_get_int(env, v, fn, "sig", 1, NSIG - 1, &s)) return false;
  *out = (int)s;
  return true;
}

/* signal_install(sig, writefd) → 0 | -errno. Points sig at writefd and, the first time, installs the
 * handler, saving the previous action. Calling it again only changes the target fd. SIGKILL and SIGSTOP
 * give -EINVAL (sigaction refuses them). */
static napi_value js_signal_install(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int sig, fd;
  if (!tl_args(env, info, 2, argv) || !get_signum(env, argv[0], "signal_install", &sig) ||
      !tl_get_fd(env, argv[1], "signal_install", "writefd", &fd))
    return NULL;
  if (sig == SIGKILL || sig == SIGSTOP) return tl_errno(env, EINVAL);
  if (fd == INT_MAX) return tl_errno(env, EBADF); /* fd + 1 must fit */
  int previous = atomic_exchange(&target_fd1[sig], fd + 1);
  if (installed[sig]) return tl_num(env, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = tl_signal_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* other threads' blocking calls are not cut short with EINTR */
  if (sigaction(sig, &sa, &saved_action[sig]) < 0) {
    int e = errno;
    atomic_store(&target_fd1[sig], previous);
    return tl_errno(env, e);
  }
  installed[sig] = true;
  return tl_num(env, 0);
}

/* signal_restore(sig) → 1 if our handler was installed and the saved action is back, 0 if ours was not
 * installed, -errno if sigaction failed. */
static napi_value js_signal_restore(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int sig;
  if (!tl_args(env, info, 1, argv) || !get_signum(env, argv[0], "signal_restore", &sig)) return NULL;
  if (!installed[sig]) return tl_num(env, 0);
  if (sigaction(sig, &saved_action[sig], NULL) < 0) return tl_errno(env, errno);
  /* Only after the old action is back: a signal arriving in between still reaches the pipe. */
  atomic_store(&target_fd1[sig], 0);
  installed[sig] = false;
  return tl_num(env, 1);
}

/* signal_get_handler_kind(sig) → 'default' | 'ignore' | 'tulip' | 'other' | -errno: what sigaction
 * reports for sig now (tests check that a removal restored the previous handler). */
static napi_value js_signal_get_handler_kind(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  int sig;
  struct sigaction cur;
  if (!tl_args(env, info, 1, argv) || !get_signum(env, argv[0], "signal_get_handler_kind", &sig))
    return NULL;
  if (sigaction(sig, NULL, &cur) < 0) return tl_errno(env, errno);
  const char *kind;
  if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) kind = "default";
  else if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) kind = "ignore";
  else if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == tl_signal_handler) kind = "tulip";
  else kind = "other";
  TL_CALL(env, napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &r));
  return r;
}

/* raise_signal(sig) → 0 | -errno: sends sig to this process with kill(getpid()), so any thread may take
 * it, as with a signal from outside. */
static napi_value js_raise_signal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int sig;
  if (!tl_args(env, info, 1, argv) || !get_signum(env, argv[0], "raise_signal", &sig)) return NULL;
  return tl_sysret(env, kill(getpid(), sig));
}

static bool signal_constants(napi_env env, napi_value c) {
#define SIGC(name) if (!tl_set_int(env, c, #name, name)) return false;
  SIGC(SIGHUP) SIGC(SIGINT) SIGC(SIGQUIT) SIGC(SIGILL) SIGC(SIGTRAP) SIGC(SIGABRT) SIGC(SIGBUS)
  SIGC(SIGFPE) SIGC(SIGKILL) SIGC(SIGUSR1) SIGC(SIGSEGV) SIGC(SIGUSR2) SIGC(SIGPIPE) SIGC(SIGALRM)
  SIGC(SIGTERM) SIGC(SIGCHLD) SIGC(SIGCONT) SIGC(SIGSTOP) SIGC(SIGTSTP) SIGC(SIGTTIN) SIGC(SIGTTOU)
  SIGC(SIGURG) SIGC(SIGXCPU) SIGC(SIGXFSZ) SIGC(SIGVTALRM) SIGC(SIGPROF) SIGC(SIGWINCH) SIGC(SIGIO)
  SIGC(SIGSYS)
#undef SIGC
  return tl_set_int(env, c, "NSIG", NSIG);
}

bool register_signals(napi_env env, napi_value exports) {
  napi_value sigs;
  if (napi_create_object(env, &sigs) != napi_ok || !signal_constants(env, sigs) ||
      napi_set_named_property(env, exports, "signals", sigs) != napi_ok)
    return false;
  return tl_export_fn(env, exports, "signal_install", js_signal_install) &&
         tl_export_fn(env, exports, "signal_restore", js_signal_restore) &&
         tl_export_fn(env, exports, "signal_get_handler_kind", js_signal_get_handler_kind) &&
         tl_export_fn(env, exports, "raise_signal", js_raise_signal);
}
