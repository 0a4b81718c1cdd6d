/* Links hub::tcp from a vendored libhub: a server on 127.0.0.1 port 0, one
 * line through it and back, and a clean shutdown. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hub-tcp.h"

static int lines;

static void on_line(hub_tcp_server_t *srv, hub_client_t *client,
                    const char *line, size_t len) {
  (void)client;
  lines++;
  hub_broadcast(hub_tcp_server_get_hub(srv), line, len, 0);
}

int main(void) {
  uv_loop_t loop;
  hub_t *hub;
  hub_tcp_server_t *srv;
  hub_tcp_options_t opts;
  struct sockaddr_in addr;
  int len = sizeof(addr), fd;
  char buf[16];
  ssize_t n;

  signal(SIGPIPE, SIG_IGN);
  if (uv_loop_init(&loop) != 0 || hub_new(&hub, &loop, NULL) != 0)
    return 1;
  hub_tcp_options_init(&opts);
  opts.on_line = on_line;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (hub_tcp_server_new(&srv, hub, &opts) != 0 ||
      hub_tcp_server_start(srv, (struct sockaddr *)&addr) != 0 ||
      hub_tcp_server_getsockname(srv, (struct sockaddr *)&addr, &len) != 0)
    return 1;

  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      send(fd, "ping\n", 5, 0) != 5)
    return 1;
  while (lines == 0)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_NOWAIT); /* flush the broadcast */
  n = recv(fd, buf, sizeof(buf), 0);
  if (n != 5 || memcmp(buf, "ping\n", 5) != 0) {
    fprintf(stderr, "expected the line back\n");
    return 1;
  }
  close(fd);

  hub_tcp_server_close(srv, NULL);
  hub_close(hub, 0, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "handles left on the loop\n");
    return 1;
  }
  puts("ok");
  return 0;
}
