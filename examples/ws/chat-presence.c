/* hub-ws-chat's presence (chat-presence.h): rooms in a chained hash table
 * keyed by name, each with its member count and its list of listeners. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat-presence.h"

struct chat_room_s {
  chat_room_t *next_in_bucket;
  hub__queue listeners;     /* chat_member_t, newest first */
  size_t members;           /* listeners or not */
  size_t len;
  char name[];
};

/* A notice: {"hub":EVENT,"name":NAME,"count":N} and more for the
 * member's own, the name escaped (6 bytes a byte at most). */
#define CHAT__NOTICE_MAX (2 + 6 * CHAT_NAME_MAX + 96)

static uint64_t chat__hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

void chat_presence_init(chat_presence_t *p) {
  memset(p, 0, sizeof(*p));
}

void chat_presence_free(chat_presence_t *p) {
  size_t i;

  for (i = 0; i < p->nbuckets; i++) {
    while (p->buckets[i] != NULL) {
      chat_room_t *r = p->buckets[i];
      p->buckets[i] = r->next_in_bucket;
      free(r);
    }
  }
  free(p->buckets);
  chat_presence_init(p);
}

static chat_room_t **chat__slot(const chat_presence_t *p, const char *name,
                                size_t len) {
  chat_room_t **slot;

  if (p->nbuckets == 0)
    return NULL;
  slot = &p->buckets[chat__hash(name, len) & (p->nbuckets - 1)];
  while (*slot != NULL &&
         ((*slot)->len != len || memcmp((*slot)->name, name, len) != 0))
    slot = &(*slot)->next_in_bucket;
  return slot;
}

/* Twice the buckets once there are more rooms than buckets, so that a
 * lookup stays O(1) on average. A failed growth keeps the table as it is:
 * only slower. */
static void chat__grow(chat_presence_t *p) {
  size_t n = p->nbuckets == 0 ? 64 : p->nbuckets * 2, i;
  chat_room_t **b;

  if (p->nrooms < p->nbuckets)
    return;
  b = calloc(n, sizeof(*b));
  if (b == NULL)
    return;
  for (i = 0; i < p->nbuckets; i++) {
    while (p->buckets[i] != NULL) {
      chat_room_t *r = p->buckets[i];
      size_t j = chat__hash(r->name, r->len) & (n - 1);
      p->buckets[i] = r->next_in_bucket;
      r->next_in_bucket = b[j];
      b[j] = r;
    }
  }
  free(p->buckets);
  p->buckets = b;
  p->nbuckets = n;
}

size_t chat_presence_count(const chat_presence_t *p, const char *room) {
  chat_room_t **slot = chat__slot(p, room, strlen(room));

  return slot != NULL && *slot != NULL ? (*slot)->members : 0;
}

size_t chat_json_string(const char *s, size_t len, char *out, size_t cap) {
  static const char hex[] = "0123456789abcdef";
  size_t i, n = 0;
  char e[6];
  size_t k, elen;

#define CHAT__PUT(c)                                                        \
  do {                                                                      \
    if (n + 1 < cap)                                                        \
      out[n] = (c);                                                         \
    n++;                                                                    \
  } while (0)
  CHAT__PUT('"');
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    elen = 0;
    if (c == '"' || c == '\\') {
      e[0] = '\\', e[1] = (char)c, elen = 2;
    } else if (c < 0x20) {
      e[0] = '\\', e[1] = 'u', e[2] = '0', e[3] = '0';
      e[4] = hex[c >> 4], e[5] = hex[c & 15], elen = 6;
    }
    if (elen == 0) {
      CHAT__PUT((char)c);
      continue;
    }
    for (k = 0; k < elen; k++)
      CHAT__PUT(e[k]);
  }
  CHAT__PUT('"');
#undef CHAT__PUT
  if (cap > 0)
    out[n < cap ? n : cap - 1] = '\0';
  return n;
}

chat_member_t *chat_member_new(hub_client_t *client, uint64_t id,
                               const char *name, int named_by_token) {
  size_t n = strlen(name);
  chat_member_t *m;

  if (n > CHAT_NAME_MAX)
    return NULL;
  m = calloc(1, sizeof(*m) + n + 1);
  if (m == NULL)
    return NULL;
  m->client = client;
  m->id = id;
  m->named_by_token = named_by_token;
  memcpy(m->name, name, n + 1);
  return m;
}

/* The notice of `event` about `m` into buf; its length. */
static size_t chat__notice(const chat_member_t *m, const char *event,
                           size_t count, int own, char *buf) {
  char name[2 + 6 * CHAT_NAME_MAX + 1];
  int n;

  if (m->name[0] != '\0')
    chat_json_string(m->name, strlen(m->name), name, sizeof(name));
  else
    strcpy(name, "null");
  n = snprintf(buf, CHAT__NOTICE_MAX, "!\n{\"hub\":\"%s\",\"name\":%s,"
               "\"count\":%zu%s%s}", event, name, count,
               own ? ",\"you\":true,\"auth\":" : "",
               own ? (m->named_by_token ? "true" : "false") : "");
  return (size_t)n;
}

/* Queue the notice (`len` bytes at `text`, "!" LF JSON) for `to`, in
 * the framing it reads: the message for its framing is made at the first
 * listener that needs it (*v1 or *ev), and shared by the next ones. */
static void chat__tell(chat_member_t *to, const char *text, size_t len,
                       hub_msg_t **v1, hub_msg_t **ev) {
  hub_client_stats_t st;
  hub_msg_t **msg = to->notices == CHAT_NOTICES_V1 ? v1 : ev;
  size_t skip = to->notices == CHAT_NOTICES_V1 ? 0 : 2;

  if (client_is_closing(to->client))
    return;
  client_get_stats(to->client, &st);
  if (st.ctrl_queued >= HUB_MAX_CONTROL_QUEUED / 2)
    return; /* not reading: its pongs and close frame come first */
  if (*msg == NULL &&
      hub_msg_new(client_get_hub(to->client), text + skip, len - skip,
                  HUB_MSG_CONTROL, msg) != 0)
    return; /* out of memory: the next notice has the count */
  (void)client_send_msg(to->client, *msg);
}

/* Tell every listener of `r` but `except` of `event` about `m`. */
static void chat__announce(const chat_presence_t *p, chat_room_t *r,
                           const chat_member_t *m, const char *event,
                           const chat_member_t *except) {
  char text[CHAT__NOTICE_MAX];
  hub_msg_t *v1 = NULL, *ev = NULL;
  hub__queue *q, *next;
  chat_member_t *to;
  size_t len;

  if (p->silent || hub__queue_empty(&r->listeners) ||
      (except != NULL && r->listeners.next == &except->node &&
       except->node.next == &r->listeners))
    return;
  len = chat__notice(m, event, r->members, 0, text);
  for (q = r->listeners.next; q != &r->listeners; q = next) {
    next = q->next;
    to = hub__container_of(q, chat_member_t, node);
    if (to != except)
      chat__tell(to, text, len, &v1, &ev);
  }
  hub_msg_unref(v1);
  hub_msg_unref(ev);
}

int chat_presence_join(chat_presence_t *p, chat_member_t *m,
                       const char *room, chat_notices_t notices) {
  size_t len = strlen(room);
  chat_room_t **slot, *r;

  chat__grow(p);
  slot = chat__slot(p, room, len);
  if (slot == NULL)
    return UV_ENOMEM;
  r = *slot;
  if (r == NULL) {
    r = calloc(1, sizeof(*r) + len + 1);
    if (r == NULL)
      return UV_ENOMEM;
    hub__queue_init(&r->listeners);
    r->len = len;
    memcpy(r->name, room, len + 1);
    *slot = r;
    p->nrooms++;
  }
  m->room = r;
  m->notices = notices;
  r->members++;
  if (notices != CHAT_NOTICES_NONE)
    hub__queue_insert_head(&r->listeners, &m->node);
  chat__announce(p, r, m, "join", m);
  if (notices != CHAT_NOTICES_NONE) {
    char text[CHAT__NOTICE_MAX];
    hub_msg_t *v1 = NULL, *ev = NULL;
    size_t n = chat__notice(m, "join", r->members, 1, text);

    chat__tell(m, text, n, &v1, &ev);
    hub_msg_unref(v1);
    hub_msg_unref(ev);
  }
  return 0;
}

void chat_member_free(chat_presence_t *p, chat_member_t *m) {
  chat_room_t *r, **slot;

  if (m == NULL)
    return;
  r = m->room;
  if (r != NULL) {
    if (m->notices != CHAT_NOTICES_NONE)
      hub__queue_remove(&m->node);
    r->members--;
    chat__announce(p, r, m, "leave", NULL);
    if (r->members == 0) {
      slot = chat__slot(p, r->name, r->len);
      *slot = r->next_in_bucket;
      p->nrooms--;
      free(r);
    }
  }
  free(m);
}
