/*
 * process.c: starting child processes and watching them exit without SIGCHLD.
 *
 * spawn() uses posix_spawn(p): glibc implements it with clone(CLONE_VM | CLONE_VFORK) and reports an
 * exec failure's errno as posix_spawn's result after reaping the failed child itself, so a missing
 * program is -ENOENT here and never a zombie. It is also safe in a multi-threaded process (Node's),
 * where fork() would copy a heap whose locks other threads may hold.
 *
 * The child starts clean: every signal at SIG_DFL (Node sets SIGPIPE to SIG_IGN, and an ignored
 * disposition would survive exec: `yes | head` would then spin instead of dying) and an empty signal
 * mask. Every fd the addon creates is close-on-exec, so the child gets exactly fds 0, 1, 2, plus the fds
 * listed in pass_fds (Python's subprocess option of that name), under the same numbers.
 *
 * Exit watching: pidfd_open(pid) (Linux >= 5.3) gives an fd that polls readable when that child exits,
 * so an exit is one more reader in the selector. waitpid_nohang reaps exactly the pid asked for, never
 * waitpid(-1): Node (libuv) reaps its own children and must not lose them to us, nor we ours to it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#endif
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

extern char **environ;

/* stdio codes besides an fd >= 0 (the TypeScript side maps PIPE/DEVNULL/STDOUT/inherit onto these). */
#define TL_STDIO_INHERIT (-1)
#define TL_STDIO_DEVNULL (-2)
#define TL_STDIO_STDOUT (-3) /* stderr only: a copy of the child's stdout */

/* A malloc'd UTF-8 copy of a JS string; NULL with an exception pending on failure. Embedded NULs are a
 * RangeError: C would silently cut the string there (Python: "embedded null byte"). */
static char *get_cstring(napi_env env, napi_value v, const char *fn, const char *name) {
  napi_valuetype t;
  size_t len;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    (void)TL_TYPE_ERROR(env, "%s: %s must be a string", fn, name);
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) {
    free(s);
    (void)TL_RANGE_ERROR(env, "%s: %s contains a NUL character", fn, name);
    return NULL;
  }
  return s;
}

static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* A NULL-terminated malloc'd copy of a JS array of strings. */
static bool get_strv(napi_env env, napi_value v, const char *fn, const char *name, bool nonempty, char ***out) {
  bool is = false;
  uint32_t n;
  if (napi_is_array(env, v, &is) != napi_ok || !is) return TL_TYPE_ERROR(env, "%s: %s must be an array of strings", fn, name);
  napi_get_array_length(env, v, &n);
  if (nonempty && n == 0) return TL_RANGE_ERROR(env, "%s: %s must not be empty", fn, name);
  char **strv = calloc((size_t)n + 1, sizeof *strv);
  if (strv == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, v, i, &item) != napi_ok || (strv[i] = get_cstring(env, item, fn, name)) == NULL) {
      free_strv(strv);
      return false;
    }
  }
  *out = strv;
  return true;
}

static int tl_pidfd_open(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
  return (int)syscall(SYS_pidfd_open, pid, 0); /* always close-on-exec */
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

/* The file actions that give the child its fds 0, 1, 2. A source fd that is itself 0, 1 or 2 (but not
 * its own target) is first copied above 2, so that an earlier dup2 cannot overwrite it (stdin=1,
 * stdout=0 would otherwise both end up the same file). */
static int add_stdio_actions(posix_spawn_file_actions_t *fa, const int stdio[3], int moved[3]) {
  int src[3];
  for (int i = 0; i < 3; i++) {
    src[i] = stdio[i];
    if (src[i] >= 0 && src[i] <= 2 && src[i] != i) {
      if ((moved[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0) return errno;
      src[i] = moved[i];
    }
  }
  int r = 0;
  for (int i = 0; i < 3 && r == 0; i++) {
    /* "Inherit" must be said explicitly: Node marks its own fds 0, 1, 2 close-on-exec (checked here on
     * Node 20), so a child given no action would start with them closed. dup2(i, i) clears the flag in
     * the child only. A parent fd that is not open at all is left absent in the child too. */
    if (src[i] == TL_STDIO_INHERIT && fcntl(i, F_GETFD) >= 0)
      r = posix_spawn_file_actions_adddup2(fa, i, i);
    else if (src[i] >= 0)
      r = posix_spawn_file_actions_adddup2(fa, src[i], i); /* glibc >= 2.29 clears CLOEXEC when src == i */
    else if (src[i] == TL_STDIO_DEVNULL)
      r = posix_spawn_file_actions_addopen(fa, i, "/dev/null", O_RDWR, 0);
    else if (src[i] == TL_STDIO_STDOUT)
      r = posix_spawn_file_actions_adddup2(fa, 1, 2);
  }
  return r;
}

/* The fds to keep open in the child under their own numbers (each >= 3): dup2(fd, fd) clears the child's
 * close-on-exec flag only (glibc >= 2.29; the parent's fd keeps it). An fd that is not open fails the spawn
 * with -EBADF. At most 64: this is for a listening socket or a pipe, not for a table of fds. */
#define TL_MAX_PASS_FDS 64
static bool get_pass_fds(napi_env env, napi_value v, int fds[TL_MAX_PASS_FDS], uint32_t *count) {
  bool is = false;
  uint32_t n = 0;
  *count = 0;
  if (tl_is_undefined(env, v)) return true;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok)
    return TL_TYPE_ERROR(env, "spawn: pass_fds must be an array of fds");
  if (n > TL_MAX_PASS_FDS) return TL_RANGE_ERROR(env, "spawn: pass_fds has %u fds, at most %d are allowed", n, TL_MAX_PASS_FDS);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    int64_t fd;
    napi_get_element(env, v, i, &item);
    if (!tl_get_int(env, item, "spawn", "pass_fds[i]", 3, INT_MAX, &fd)) return false;
    fds[i] = (int)fd;
  }
  *count = n;
  return true;
}

/* spawn(file, argv, envp | null, cwd | null, stdio [in, out, err], search_path, pass_fds?) → [pid, pidfd]
 * | -errno. stdio entries: an fd, -1 inherit, -2 /dev/null, -3 (stderr only) the same as stdout. pidfd is
 * -errno when pidfd_open failed (-ENOSYS before Linux 5.3): the child runs anyway, watch it another way. */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  char *file = NULL, *cwd = NULL, **args = NULL, **envp = NULL;
  int stdio[3];
  int pass_fds[TL_MAX_PASS_FDS];
  uint32_t n_pass = 0;
  bool search;
  napi_value result = NULL;
  if (!tl_args(env, info, 7, argv)) return NULL;
  if ((file = get_cstring(env, argv[0], "spawn", "file")) == NULL) return NULL;
  if (!get_strv(env, argv[1], "spawn", "argv", true, &args)) goto out;
  if (!tl_is_undefined(env, argv[2]) && !get_strv(env, argv[2], "spawn", "envp", false, &envp)) goto out;
  if (!tl_is_undefined(env, argv[3]) && (cwd = get_cstring(env, argv[3], "spawn", "cwd")) == NULL) goto out;
  {
    bool is = false;
    uint32_t n = 0;
    if (napi_is_array(env, argv[4], &is) != napi_ok || !is || napi_get_array_length(env, argv[4], &n) != napi_ok || n != 3) {
      (void)TL_TYPE_ERROR(env, "spawn: stdio must be an array of 3 integers");
      goto out;
    }
    for (uint32_t i = 0; i < 3; i++) {
      napi_value item;
      int64_t x;
      napi_get_element(env, argv[4], i, &item);
      if (!tl_get_int(env, item, "spawn", "stdio[i]", i == 2 ? TL_STDIO_STDOUT : TL_STDIO_DEVNULL, INT_MAX, &x)) goto out;
      stdio[i] = (int)x;
    }
  }
  if (!tl_get_bool(env, argv[5], "spawn", "search_path", &search)) goto out;
  if (!get_pass_fds(env, argv[6], pass_fds, &n_pass)) goto out;

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  int moved[3] = {-1, -1, -1};
  pid_t pid = -1;
  int err = posix_spawn_file_actions_init(&fa);
  if (err != 0) {
    result = tl_errno(env, err);
    goto out;
  }
  if ((err = posix_spawnattr_init(&attr)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    result = tl_errno(env, err);
    goto out;
  }
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  err = posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0) err = posix_spawnattr_setsigdefault(&attr, &all);
  if (err == 0) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (err == 0) err = add_stdio_actions(&fa, stdio, moved);
  for (uint32_t i = 0; i < n_pass && err == 0; i++) err = posix_spawn_file_actions_adddup2(&fa, pass_fds[i], pass_fds[i]);
#if defined(__GLIBC__) || defined(__APPLE__)
  if (err == 0 && cwd != NULL) err = posix_spawn_file_actions_addchdir_np(&fa, cwd);
#else
  if (err == 0 && cwd != NULL) err = ENOSYS;
#endif
  if (err == 0) {
    char **ev = envp != NULL ? envp : environ;
    err = search ? posix_spawnp(&pid, file, &fa, &attr, args, ev) : posix_spawn(&pid, file, &fa, &attr, args, ev);
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  for (int i = 0; i < 3; i++)
    if (moved[i] >= 0) close(moved[i]);
  if (err != 0) {
    result = tl_errno(env, err);
    goto out;
  }
  int pidfd = tl_pidfd_open(pid);
  if (pidfd < 0) pidfd = -errno; /* read before any N-API call can change errno */
  result = tl_pair(env, tl_num(env, pid), tl_num(env, pidfd));
out:
  free(file);
  free(cwd);
  free_strv(args);
  free_strv(envp);
  return result;
}

static bool get_pid(napi_env env, napi_value v, const char *fn, pid_t *out) {
  int64_t p;
  if (!tl_get_int(env, v, fn, "pid", 1, INT32_MAX, &p)) return false;
  *out = (pid_t)p;
  return true;
}

/* pidfd_open(pid) → fd | -errno: readable once that process has exited. */
static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  pid_t pid;
  if (!tl_args(env, info, 1, argv) || !get_pid(env, argv[0], "pidfd_open", &pid)) return NULL;
  return tl_sysret(env, tl_pidfd_open(pid));
}

/* waitpid_nohang(pid) → [pid, returncode] once reaped | null while it runs | -errno. returncode as
 * Python: the exit code, or -N when signal N killed it. */
static napi_value js_waitpid_nohang(napi_env env, napi_callback_info info) {
  napi_value argv[1], r;
  pid_t pid;
  int status = 0;
  if (!tl_args(env, info, 1, argv) || !get_pid(env, argv[0], "waitpid_nohang", &pid)) return NULL;
  pid_t got;
  do got = waitpid(pid, &status, WNOHANG); while (got < 0 && errno == EINTR);
  if (got < 0) return tl_errno(env, errno);
  if (got == 0) {
    TL_CALL(env, napi_get_null(env, &r));
    return r;
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : status;
  return tl_pair(env, tl_num(env, got), tl_num(env, code));
}

/* kill(pid, sig) → 0 | -errno. sig 0 only checks that the process exists. pid must be > 0: process
 * groups and "every process" (pid <= 0) are not what a transport means. */
static napi_value js_kill(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  pid_t pid;
  int64_t sig;
  if (!tl_args(env, info, 2, argv) || !get_pid(env, argv[0], "kill", &pid) ||
      !tl_get_int(env, argv[1], "kill", "sig", 0, 127, &sig))
    return NULL;
  return tl_sysret(env, kill(pid, (int)sig));
}

bool register_process(napi_env env, napi_value exports) {
  return tl_export_fn(env, exports, "spawn", js_spawn) && tl_export_fn(env, exports, "pidfd_open", js_pidfd_open) &&
         tl_export_fn(env, exports, "waitpid_nohang", js_waitpid_nohang) && tl_export_fn(env, exports, "kill", js_kill);
}
