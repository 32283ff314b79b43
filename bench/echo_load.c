/*
 * echo_load: a single-threaded epoll TCP echo load generator for tulip-ts's `npm run bench`.
 *
 *   echo_load -p PORT [-c CONNS] [-s SIZE] [-d SECONDS] [-w WARMUP_SECONDS] [-h HOST]
 *
 * Opens CONNS connections to HOST:PORT (default 127.0.0.1, 10 connections, 1024-byte messages, 4 s after
 * 1 s of warm-up). Each connection runs a closed loop: send one SIZE-byte message, wait until the whole
 * echo has come back, check it byte for byte, send the next. Every message is a different window of a
 * pseudo-random pattern, so a stale, shifted or duplicated echo is caught as a mismatch.
 *
 * Only messages whose echo completes after the warm-up and before the end count. One line is printed:
 *
 *   msgs_per_s=... MiB_per_s=... p50_us=... p99_us=... errors=...
 *
 * MiB_per_s is the payload echoed in one direction (msgs * SIZE / 2^20 per second); p50/p99 are the
 * round-trip latencies (first byte sent -> last byte of the echo received) of the counted messages;
 * errors counts mismatches, surplus bytes, resets and premature EOFs (a failed connection is dropped).
 * Exit status: 0 on success; 1 if a connection cannot be established, any error occurred or no
 * message completed in the window (the line is still printed); 2 on bad usage.
 *
 * Build: gcc -O2 -Wall -Wextra -o echo_load echo_load.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (256 * 1024)
#define CONNECT_TIMEOUT_MS 5000

typedef struct {
    int fd;
    int id;
    int alive;
    int want_out;       /* EPOLLOUT currently registered */
    size_t msg_off;     /* where the current message starts in the pattern */
    size_t sent;        /* bytes of the current message written so far */
    size_t got;         /* bytes of its echo received and verified so far */
    uint64_t t_start;   /* ns, when the current message was first written */
    uint64_t seq;
} conn_t;

static const char *host = "127.0.0.1";
static const char *port_str = NULL;
static int nconns = 10;
static size_t msg_size = 1024;
static double seconds = 4.0, warmup = 1.0;

static unsigned char *pattern;   /* 2 * msg_size + STRIDE_SPAN bytes */
static size_t pattern_span;      /* number of distinct message start offsets */
static unsigned char rbuf[READ_CHUNK];

static uint64_t *lat;            /* ns latencies of counted messages */
static size_t nlat, caplat;
static uint64_t errors;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die_usage(const char *prog) {
    fprintf(stderr,
            "usage: %s -p PORT [-c CONNS] [-s SIZE] [-d SECONDS] [-w WARMUP_SECONDS] [-h HOST]\n",
            prog);
    exit(2);
}

static int parse_pos_long(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v <= 0) return -1;
    *out = v;
    return 0;
}

static int parse_nonneg_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= 0)) return -1;
    *out = v;
    return 0;
}

static void push_latency(uint64_t ns) {
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        uint64_t *p = realloc(lat, caplat * sizeof *lat);
        if (!p) { perror("realloc"); exit(1); }
        lat = p;
    }
    lat[nlat++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile over the sorted latencies, in microseconds. */
static double percentile_us(double p) {
    if (!nlat) return 0.0;
    size_t rank = (size_t)(p / 100.0 * (double)nlat + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > nlat) rank = nlat;
    return (double)lat[rank - 1] / 1000.0;
}

static void set_events(int ep, conn_t *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) { perror("epoll_ctl"); exit(1); }
    c->want_out = want_out;
}

static void conn_fail(int ep, conn_t *c, const char *why, int err) {
    if (!c->alive) return;
    errors++;
    fprintf(stderr, "echo_load: connection %d: %s%s%s\n", c->id, why,
            err ? ": " : "", err ? strerror(err) : "");
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->alive = 0;
}

/* Write as much of the current message as the socket takes; register EPOLLOUT for the rest. */
static void pump_write(int ep, conn_t *c) {
    while (c->sent < msg_size) {
        ssize_t n = send(c->fd, pattern + c->msg_off + c->sent, msg_size - c->sent, MSG_NOSIGNAL);
        if (n > 0) { c->sent += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { set_events(ep, c, 1); return; }
        conn_fail(ep, c, "send", n < 0 ? errno : 0);
        return;
    }
    set_events(ep, c, 0);
}

static void start_message(int ep, conn_t *c) {
    c->seq++;
    /* A stride coprime-ish to the span walks through many different windows of the pattern. */
    c->msg_off = (size_t)((c->seq * 7919u + (uint64_t)c->id * 104729u) % pattern_span);
    c->sent = 0;
    c->got = 0;
    c->t_start = now_ns();
    pump_write(ep, c);
}

static void pump_read(int ep, conn_t *c, uint64_t measure_from, uint64_t measure_to) {
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            conn_fail(ep, c, "recv", errno);
            return;
        }
        if (n == 0) { conn_fail(ep, c, "server closed the connection", 0); return; }
        size_t len = (size_t)n;
        if (c->got + len > c->sent) {
            /* More came back than was sent so far: the server invented or duplicated bytes. */
            conn_fail(ep, c, "received more bytes than were sent", 0);
            return;
        }
        if (memcmp(rbuf, pattern + c->msg_off + c->got, len) != 0) {
            conn_fail(ep, c, "echo does not match what was sent", 0);
            return;
        }
        c->got += len;
        if (c->got == msg_size) {
            uint64_t t = now_ns();
            if (t >= measure_from && t < measure_to) push_latency(t - c->t_start);
            if (t < measure_to) start_message(ep, c);
            if (!c->alive) return;
        }
    }
}

static int open_conn(const struct addrinfo *ai) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
    if (errno != EINPROGRESS) { int e = errno; close(fd); errno = e; return -1; }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int r;
    do r = poll(&pfd, 1, CONNECT_TIMEOUT_MS); while (r < 0 && errno == EINTR);
    if (r == 0) { close(fd); errno = ETIMEDOUT; return -1; }
    int err = 0;
    socklen_t elen = sizeof err;
    if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) { int e = errno; close(fd); errno = e; return -1; }
    if (err) { close(fd); errno = err; return -1; }
    return fd;
}

int main(int argc, char **argv) {
    int opt;
    long v;
    while ((opt = getopt(argc, argv, "p:c:s:d:w:h:")) != -1) {
        switch (opt) {
        case 'p': port_str = optarg; if (parse_pos_long(optarg, &v) || v > 65535) die_usage(argv[0]); break;
        case 'c': if (parse_pos_long(optarg, &v) || v > 100000) die_usage(argv[0]); nconns = (int)v; break;
        case 's': if (parse_pos_long(optarg, &v)) die_usage(argv[0]); msg_size = (size_t)v; break;
        case 'd': if (parse_nonneg_double(optarg, &seconds) || seconds <= 0) die_usage(argv[0]); break;
        case 'w': if (parse_nonneg_double(optarg, &warmup)) die_usage(argv[0]); break;
        case 'h': host = optarg; break;
        default: die_usage(argv[0]);
        }
    }
    if (!port_str || optind != argc) die_usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    /* The pattern: deterministic xorshift bytes; messages are windows of it at varying offsets. */
    pattern_span = 4093; /* prime */
    pattern = malloc(msg_size + pattern_span);
    if (!pattern) { perror("malloc"); return 1; }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < msg_size + pattern_span; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        pattern[i] = (unsigned char)(x >> 24);
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int gai = getaddrinfo(host, port_str, &hints, &res);
    if (gai) { fprintf(stderr, "echo_load: cannot resolve %s: %s\n", host, gai_strerror(gai)); return 1; }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) { perror("epoll_create1"); return 1; }
    conn_t *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) { perror("calloc"); return 1; }
    for (int i = 0; i < nconns; i++) {
        int fd = -1, err = 0;
        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            fd = open_conn(ai);
            if (fd >= 0) break;
            err = errno;
        }
        if (fd < 0) {
            fprintf(stderr, "echo_load: connect to %s:%s failed: %s\n", host, port_str, strerror(err));
            return 1;
        }
        conns[i].fd = fd;
        conns[i].id = i;
        conns[i].alive = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { perror("epoll_ctl"); return 1; }
    }
    freeaddrinfo(res);

    uint64_t t0 = now_ns();
    uint64_t measure_from = t0 + (uint64_t)(warmup * 1e9);
    uint64_t measure_to = measure_from + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < nconns; i++) start_message(ep, &conns[i]);

    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= measure_to) break;
        int alive = 0;
        for (int i = 0; i < nconns; i++) alive += conns[i].alive;
        if (!alive) break;
        uint64_t left_ms = (measure_to - t) / 1000000 + 1;
        int n = epoll_wait(ep, evs, (int)(sizeof evs / sizeof evs[0]), left_ms > 100 ? 100 : (int)left_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c->alive) continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) pump_read(ep, c, measure_from, measure_to);
            if (c->alive && (evs[i].events & EPOLLOUT)) pump_write(ep, c);
        }
    }
    uint64_t t_end = now_ns();
    if (t_end > measure_to) t_end = measure_to;   /* the window closes at measure_to, whatever we overshot */

    for (int i = 0; i < nconns; i++)
        if (conns[i].alive) close(conns[i].fd);
    free(conns);
    close(ep);

    double window = (double)(t_end > measure_from ? t_end - measure_from : 0) / 1e9;
    double mps = window > 0 ? (double)nlat / window : 0.0;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    printf("msgs_per_s=%.0f MiB_per_s=%.2f p50_us=%.1f p99_us=%.1f errors=%llu\n", mps,
           mps * (double)msg_size / 1048576.0, percentile_us(50), percentile_us(99),
           (unsigned long long)errors);
    fflush(stdout);
    free(lat);
    free(pattern);
    return nlat && !errors ? 0 : 1;
}
