/* A small WebSocket server built only from an installed (or vendored)
 * libhub and its hub::ws adapter: every message a client sends goes to
 * every client. It listens on 127.0.0.1, port 0, prints "port N", and on
 * SIGTERM closes the server, then the hub, and exits 0 if the loop was
 * left empty. talk.py drives it. */
#include <stdio.h>

#include <hub-ws.h>

static uv_signal_t sigterm;

static void on_message(hub_ws_server_t *server, hub_client_t *client,
                       const void *data, size_t len, unsigned int flags) {
  (void)client;
  hub_broadcast(hub_ws_server_get_hub(server), data, len, flags);
}

static void on_server_closed(hub_ws_server_t *server) {
  hub_close(hub_ws_server_get_hub(server), 0, NULL);
}

static void on_sigterm(uv_signal_t *sig, int signum) {
  (void)signum;
  hub_ws_server_close(sig->data, on_server_closed);
  uv_close((uv_handle_t *)sig, NULL);
}

int main(void) {
  uv_loop_t loop;
  hub_t *hub;
  hub_ws_server_t *server;
  hub_ws_options_t opts;
  struct sockaddr_in addr;
  int len = sizeof(addr);

  hub_ws_options_init(&opts);
  opts.on_message = on_message;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_loop_init(&loop) != 0 || hub_new(&hub, &loop, NULL) != 0 ||
      hub_ws_server_new(&server, hub, &opts) != 0 ||
      hub_ws_server_start(server, (const struct sockaddr *)&addr) != 0 ||
      hub_ws_server_getsockname(server, (struct sockaddr *)&addr, &len))
    return 1;
  uv_signal_init(&loop, &sigterm);
  sigterm.data = server;
  uv_signal_start(&sigterm, on_sigterm, SIGTERM);
  printf("port %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}
