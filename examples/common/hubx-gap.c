/* Gap notices. See hubx-gap.h. */
#include "hubx-gap.h"

#include <stdio.h>
#include <stdlib.h>

static void hubx__gap_on_timer(uv_timer_t *timer);

int hubx_gap_json(char *buf, size_t len, const char *mark, const char *key,
                  uint64_t n) {
  return snprintf(buf, len, "%s{\"hub\":\"gap\",\"%s\":%llu}", mark, key,
                  (unsigned long long)n);
}

void hubx_gap_init(hubx_gap_t *g, uv_loop_t *loop, hubx_gap_format_fn format,
                   unsigned int flags) {
  g->format = format;
  g->flags = flags | HUB_MSG_CONTROL;
  g->notices = g->waited = 0;
  g->wait = NULL;
  g->nwait = g->capwait = 0;
  g->closing = 0;
  /* Only links the handle into the loop. */
  (void)uv_timer_init(loop, &g->timer);
  g->timer.data = g;
}

/* Look at `client` again in HUBX_GAP_RECHECK_MS. */
static void hubx__gap_wait(hubx_gap_t *g, hub_client_t *client) {
  hub_client_t **arr;
  size_t i, cap;

  if (g->closing)
    return;
  for (i = 0; i < g->nwait; i++)
    if (g->wait[i] == client)
      return;
  if (g->nwait == g->capwait) {
    cap = g->capwait < 8 ? 8 : g->capwait * 2;
    arr = realloc(g->wait, cap * sizeof(*arr));
    if (arr == NULL)
      return; /* the next drop or fall of its queue will do */
    g->wait = arr;
    g->capwait = cap;
  }
  g->wait[g->nwait++] = client;
  g->waited++;
  if (!uv_is_active((uv_handle_t *)&g->timer))
    uv_timer_start(&g->timer, hubx__gap_on_timer, HUBX_GAP_RECHECK_MS, 0);
}

static void hubx__gap_notice(hubx_gap_t *g, hub_client_t *client) {
  hub_client_stats_t st;
  char text[64];
  int len;

  if (client_is_closing(client))
    return;
  client_get_stats(client, &st);
  if (st.gap_untaken == 0)
    return;
  if (st.ctrl_queued > 0) {
    hubx__gap_wait(g, client); /* a notice, pong or close frame waits */
    return;
  }
  len = g->format(client, text, sizeof(text), st.gap_untaken);
  if (len > 0 && (size_t)len < sizeof(text) &&
      client_send(client, text, (size_t)len, g->flags) == 0) {
    (void)client_take_gap(client); /* announced */
    g->notices++;
  } else {
    hubx__gap_wait(g, client); /* out of memory: the hub keeps counting */
  }
}

/* Announce what is left if the queue has drained below the first mark;
 * otherwise its level will fall later, and on_pressure will. */
static void hubx__gap_if_drained(hubx_gap_t *g, hub_client_t *client) {
  hub_client_stats_t st;

  client_get_stats(client, &st);
  if (st.pressure == 0)
    hubx__gap_notice(g, client);
}

static void hubx__gap_on_timer(uv_timer_t *timer) {
  hubx_gap_t *g = timer->data;
  hub_client_t *client;
  size_t i = g->nwait;

  /* Those due now, from the last: one that waits again goes to the end,
   * and a removal moves the last entry into a place already looked at. */
  while (i-- > 0) {
    if (i >= g->nwait)
      continue;
    client = g->wait[i];
    g->wait[i] = g->wait[--g->nwait];
    hubx__gap_if_drained(g, client);
  }
  if (g->nwait > 0 && !g->closing)
    uv_timer_start(&g->timer, hubx__gap_on_timer, HUBX_GAP_RECHECK_MS, 0);
}

void hubx_gap_on_drop(hubx_gap_t *g, hub_client_t *client,
                      hub_drop_reason_t reason) {
  /* A client that is going has no gap to be told about. */
  if (reason == HUB_DROP_DISCONNECT || reason == HUB_DROP_CLOSED)
    return;
  hubx__gap_if_drained(g, client);
}

void hubx_gap_on_pressure(hubx_gap_t *g, hub_client_t *client,
                          unsigned int old_level, unsigned int new_level) {
  if (new_level < old_level)
    hubx__gap_notice(g, client);
}

void hubx_gap_forget(hubx_gap_t *g, hub_client_t *client) {
  size_t i;

  for (i = 0; i < g->nwait; i++) {
    if (g->wait[i] == client) {
      g->wait[i] = g->wait[--g->nwait];
      return;
    }
  }
}

void hubx_gap_close(hubx_gap_t *g) {
  if (g->closing)
    return;
  g->closing = 1;
  free(g->wait);
  g->wait = NULL;
  g->nwait = g->capwait = 0;
  uv_close((uv_handle_t *)&g->timer, NULL);
}
