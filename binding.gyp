{
  "targets": [
    {
      "target_name": "tulip_native",
      "sources": [
        "src/native/addon.c",
        "src/native/fds.c",
        "src/native/sel_epoll.c",
        "src/native/sel_poll.c",
        "src/native/sel_select.c",
        "src/native/sel_kqueue.c",
        "src/native/sockets.c",
        "src/native/dns.c",
        "src/native/signals.c",
        "src/native/process.c",
        "src/native/sockaddr.c",
        "src/native/tls.c",
        "src/native/tls_cert.c",
        "src/native/tls_ctx.c",
        "src/native/zlib.c",
        "src/native/host.c",
        "src/native/tls.h",
        "src/native/util.h",
        "src/native/sockaddr.h",
        "src/native/const_table.h",
        "src/native/errno_table.h"
      ],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
