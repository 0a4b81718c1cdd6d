/* The in-memory test transport and the counting allocator. */
#include "mem-transport.h"

#include <stdlib.h>
#include <string.h>

static int mem_frame(const hub_transport_t *tp, const hub_msg_t *msg,
                     hub_frame_t *f) {
  mem_transport *mt = (mem_transport *)tp;
  (void)msg;
  mt->frames++;
  f->head[0] = '<';
  f->head_len = 1;
  f->tail[0] = '>';
  f->tail_len = 1;
  return 0;
}

static int mem_write(const hub_transport_t *tp, hub_client_t *client,
                     void *conn, uv_buf_t *bufs, unsigned nbufs) {
  mem_conn *mc = conn;
  unsigned i;
  (void)tp;
  (void)client;
  if (mc->fail_write)
    return mc->fail_write;
  mc->writes++;
  mc->last_nbufs = nbufs;
  for (i = 0; i < nbufs; i++) {
    if (mc->len + bufs[i].len + 1 > mc->cap) { /* +1: keep it a string */
      size_t cap = (mc->len + bufs[i].len) * 2 + 64;
      char *p = realloc(mc->out, cap);
      if (p == NULL)
        abort();
      mc->out = p;
      mc->cap = cap;
    }
    memcpy(mc->out + mc->len, bufs[i].base, bufs[i].len);
    mc->len += bufs[i].len;
    mc->out[mc->len] = '\0';
  }
  if (mc->write_mode == MEM_WRITE_ASYNC) {
    mc->in_flight = 1;
    return HUB_WRITE_PENDING;
  }
  return HUB_WRITE_DONE;
}

static void mem_close(const hub_transport_t *tp, hub_client_t *client,
                      void *conn) {
  mem_conn *mc = conn;
  (void)tp;
  (void)client;
  mc->close_requested++;
  if (mc->close_mode == MEM_CLOSE_SYNC)
    mem_finish_close(mc);
}

void mem_transport_init(mem_transport *mt, int framed) {
  memset(mt, 0, sizeof(*mt));
  mt->tp.name = "mem";
  mt->tp.frame = framed ? mem_frame : NULL;
  mt->tp.write = mem_write;
  mt->tp.close = mem_close;
}

mem_conn *mem_connect(hub_t *hub, mem_transport *mt, int write_mode,
                      int close_mode, int *err) {
  mem_conn *mc = calloc(1, sizeof(*mc));
  int r;

  if (mc == NULL)
    abort();
  mc->write_mode = write_mode;
  mc->close_mode = close_mode;
  r = hub_register(hub, &mt->tp, mc, &mc->client);
  if (err != NULL)
    *err = r;
  if (r != 0) {
    free(mc);
    return NULL;
  }
  client_set_data(mc->client, mc);
  return mc;
}

void mem_conn_free(mem_conn *mc) {
  if (mc != NULL) {
    free(mc->out);
    free(mc);
  }
}

void mem_complete(mem_conn *mc, int status) {
  if (!mc->in_flight)
    abort();
  mc->in_flight = 0;
  hub_client_write_done(mc->client, status);
}

void mem_finish_close(mem_conn *mc) {
  hub_client_t *c = mc->client;
  mc->in_flight = 0;
  mc->closed = 1;
  hub_client_closed(c);
}
