/* A transport that discards what it is given, for a client of some other
 * transport than the one a test is about. */
#include "support.h"

int ts_null_write(const hub_transport_t *tp, hub_client_t *client,
                  void *conn, uv_buf_t *bufs, unsigned nbufs) {
  (void)tp, (void)client, (void)conn, (void)bufs, (void)nbufs;
  return HUB_WRITE_DONE;
}

void ts_null_close(const hub_transport_t *tp, hub_client_t *client,
                   void *conn) {
  (void)tp, (void)conn;
  hub_client_closed(client);
}
