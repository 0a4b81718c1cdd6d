/* A tiny program built against libhub the way users build theirs: it
 * broadcasts to one client of a minimal transport and checks what the
 * transport was asked to write. */
#include <stdio.h>
#include <string.h>

#include <hub.h>

#if defined(HUB_CONSUMER_VENDORED) && !defined(PARENT_FLAG)
#error "the parent project's flags did not reach its own target"
#endif

static char out[64];
static size_t out_len;

static int write_cb(const hub_transport_t *tp, hub_client_t *c, void *conn,
                    uv_buf_t *bufs, unsigned nbufs) {
  unsigned i;
  (void)tp, (void)c, (void)conn;
  for (i = 0; i < nbufs; i++) {
    memcpy(out + out_len, bufs[i].base, bufs[i].len);
    out_len += bufs[i].len;
  }
  return HUB_WRITE_DONE;
}

static void close_cb(const hub_transport_t *tp, hub_client_t *c,
                     void *conn) {
  (void)tp, (void)conn;
  hub_client_closed(c);
}

int main(void) {
  hub_transport_t tp = {.name = "stdout", .write = write_cb,
                        .close = close_cb};
  hub_client_t *client;
  hub_t *hub;
  uv_loop_t loop;

  uv_loop_init(&loop);
  if (hub_new(&hub, &loop, NULL) != 0 ||
      hub_register(hub, &tp, NULL, &client) != 0 ||
      hub_broadcast(hub, "hello", 5, 0) != 1)
    return 1;
  uv_run(&loop, UV_RUN_DEFAULT);
  hub_close(hub, 0, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0 || out_len != 5 ||
      memcmp(out, "hello", 5) != 0)
    return 1;
  printf("libhub %s: ok\n", hub_version_string());
  return 0;
}
