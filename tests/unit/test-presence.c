/* hub-ws-chat's presence (examples/ws/chat-presence.c) against the
 * in-memory transport: the join and leave notices each listener gets and
 * their framing, a cost that does not grow with the room, the notices a
 * listener that does not read skips, rooms kept apart and freed, and the
 * JSON strings the notices are made of. */
#include <stdio.h>
#include <stdlib.h>

#include "chat-presence.h"
#include "fixture.h"

static chat_presence_t presence;

/* A member leaves with its client, as in hub-ws-chat's on_client_close. */
static void close_hook(fx *f, hub_client_t *c, int status) {
  (void)f;
  (void)status;
  chat_member_free(&presence, client_get_data(c));
  client_set_data(c, NULL);
}

static int start(fx *f) {
  chat_presence_init(&presence);
  if (fx_init(f, NULL) != 0)
    return -1;
  f->close_hook = close_hook;
  return 0;
}

static int finish(fx *f) {
  int r = fx_end(f);

  if (presence.nrooms != 0)
    return -10;
  chat_presence_free(&presence);
  return r;
}

/* A client that is a member of `room` as `name`, reading `notices`. */
static mem_conn *member(fx *f, const char *room, const char *name,
                        chat_notices_t notices, int write_mode) {
  static uint64_t id;
  mem_conn *c = fx_conn(f, write_mode, MEM_CLOSE_SYNC);
  chat_member_t *m;

  if (c == NULL)
    return NULL;
  m = chat_member_new(c->client, ++id, name, 0);
  if (m == NULL)
    return NULL;
  client_set_data(c->client, m);
  if (chat_presence_join(&presence, m, room, notices) != 0)
    return NULL;
  return c;
}

/* What `c` got since last time (then forgotten). */
static int got(mem_conn *c, const char *s) {
  /* Nothing written yet: no buffer to compare (out is NULL). */
  int ok = s[0] == '\0' ? c->len == 0 : out_is(c, s);

  if (!ok)
    fprintf(stderr, "# got '%.*s'\n#  not '%s'\n", (int)c->len, c->out, s);
  c->len = 0;
  return ok;
}

static void leave(mem_conn *c) {
  client_close(c->client, 0);
}

TEST(join_and_leave_notices_exact) {
  fx f;
  mem_conn *a, *b, *c;

  ASSERT_EQ(start(&f), 0);
  a = member(&f, "r", "alice", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  ASSERT(a != NULL);
  fx_step(&f);
  ASSERT(got(a, "<!\n{\"hub\":\"join\",\"name\":\"alice\",\"count\":1,"
                "\"you\":true,\"auth\":false}>"));
  /* An events reader gets the JSON alone: its transport frames notices. */
  b = member(&f, "r", "bob", CHAT_NOTICES_EVENT, MEM_WRITE_SYNC);
  fx_step(&f);
  ASSERT(got(a, "<!\n{\"hub\":\"join\",\"name\":\"bob\",\"count\":2}>"));
  ASSERT(got(b, "<{\"hub\":\"join\",\"name\":\"bob\",\"count\":2,"
                "\"you\":true,\"auth\":false}>"));
  /* Counted and announced, told nothing. */
  c = member(&f, "r", "", CHAT_NOTICES_NONE, MEM_WRITE_SYNC);
  fx_step(&f);
  ASSERT(got(a, "<!\n{\"hub\":\"join\",\"name\":null,\"count\":3}>"));
  ASSERT(got(b, "<{\"hub\":\"join\",\"name\":null,\"count\":3}>"));
  ASSERT(got(c, ""));
  ASSERT_EQ(chat_presence_count(&presence, "r"), 3);
  leave(c);
  fx_step(&f);
  ASSERT(got(a, "<!\n{\"hub\":\"leave\",\"name\":null,\"count\":2}>"));
  ASSERT(got(b, "<{\"hub\":\"leave\",\"name\":null,\"count\":2}>"));
  leave(a);
  fx_step(&f);
  ASSERT(got(b, "<{\"hub\":\"leave\",\"name\":\"alice\",\"count\":1}>"));
  ASSERT_EQ(finish(&f), 0);
}

/* Names are JSON strings: quotes and backslashes escaped. */
TEST(names_are_escaped) {
  fx f;
  mem_conn *a;

  ASSERT_EQ(start(&f), 0);
  a = member(&f, "r", "\"a\\b\" <c>", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  fx_step(&f);
  ASSERT(got(a, "<!\n{\"hub\":\"join\",\"name\":\"\\\"a\\\\b\\\" <c>\","
                "\"count\":1,\"you\":true,\"auth\":false}>"));
  ASSERT_EQ(finish(&f), 0);
}

/* A join costs the same allocations with 1 listener as with 200: one
 * message per framing, shared; and each listener gets one notice. */
static long join_cost(int listeners, mem_conn **conns) {
  fx f;
  mem_conn *x;
  long before, cost;
  int i;

  if (start(&f) != 0)
    return -1;
  for (i = 0; i < listeners; i++)
    conns[i] = member(&f, "big", "l", i % 2 ? CHAT_NOTICES_V1
                                            : CHAT_NOTICES_EVENT,
                      MEM_WRITE_SYNC);
  fx_step(&f);
  for (i = 0; i < listeners; i++)
    conns[i]->len = 0;
  x = fx_conn(&f, MEM_WRITE_SYNC, MEM_CLOSE_SYNC);
  client_set_data(x->client, chat_member_new(x->client, 0, "x", 0));
  before = f.ca.allocs;
  chat_presence_join(&presence, client_get_data(x->client), "big",
                     CHAT_NOTICES_NONE);
  cost = f.ca.allocs - before;
  fx_step(&f);
  for (i = 0; i < listeners; i++) {
    char want[96];
    snprintf(want, sizeof(want),
             "<%s{\"hub\":\"join\",\"name\":\"x\",\"count\":%d}>",
             i % 2 ? "!\n" : "", listeners + 1);
    if (!got(conns[i], want))
      cost = -2;
  }
  if (finish(&f) != 0)
    cost = -3;
  return cost;
}

TEST(a_join_costs_the_same_however_many_listen) {
  static mem_conn *conns[200];
  long two = join_cost(2, conns), many = join_cost(200, conns);

  ASSERT(two >= 0);
  ASSERT_EQ(two, many);
  ASSERT(two <= 4); /* two messages, and what the hub allocates for them */
}

/* A listener whose control messages are half the hub's allowance skips
 * notices; the others still get them, and it gets the next one once it
 * reads. */
TEST(a_listener_that_does_not_read_skips_notices) {
  fx f;
  mem_conn *stuck, *ok, *x;
  hub_client_stats_t st;
  int i;

  ASSERT_EQ(start(&f), 0);
  stuck = member(&f, "r", "s", CHAT_NOTICES_V1, MEM_WRITE_ASYNC);
  ok = member(&f, "r", "o", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  fx_step(&f); /* stuck's first write stays in flight */
  ASSERT_EQ(stuck->in_flight, 1);
  /* Its own join notice and o's wait there; pongs, say, come next. */
  client_get_stats(stuck->client, &st);
  ASSERT_EQ(st.ctrl_queued, 2);
  for (i = 2; i < HUB_MAX_CONTROL_QUEUED / 2 - 1; i++)
    ASSERT_EQ(client_send(stuck->client, "p", 1, HUB_MSG_CONTROL), 0);
  client_get_stats(stuck->client, &st);
  ASSERT_EQ(st.ctrl_queued, HUB_MAX_CONTROL_QUEUED / 2 - 1);
  x = member(&f, "r", "x", CHAT_NOTICES_NONE, MEM_WRITE_SYNC);
  client_get_stats(stuck->client, &st);
  ASSERT_EQ(st.ctrl_queued, HUB_MAX_CONTROL_QUEUED / 2); /* the last one */
  leave(x);
  client_get_stats(stuck->client, &st);
  ASSERT_EQ(st.ctrl_queued, HUB_MAX_CONTROL_QUEUED / 2); /* skipped */
  fx_step(&f);
  ASSERT(strstr(ok->out, "\"hub\":\"leave\",\"name\":\"x\"") != NULL);
  /* It reads everything; the next notice reaches it. */
  while (stuck->in_flight) {
    mem_complete(stuck, 0);
    fx_step(&f);
  }
  ASSERT(strstr(stuck->out, "\"hub\":\"leave\"") == NULL);
  leave(ok);
  fx_step(&f);
  while (stuck->in_flight) {
    mem_complete(stuck, 0);
    fx_step(&f);
  }
  ASSERT(strstr(stuck->out, "{\"hub\":\"leave\",\"name\":\"o\",\"count\":1}")
         != NULL);
  ASSERT_EQ(finish(&f), 0);
}

/* Rooms are apart, counted, and gone once empty; a thousand of them. */
TEST(rooms_apart_counted_and_freed) {
  static mem_conn *conns[1000];
  fx f;
  mem_conn *a, *b;
  char room[16];
  int i;

  ASSERT_EQ(start(&f), 0);
  a = member(&f, "one", "a", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  b = member(&f, "two", "b", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  for (i = 0; i < 1000; i++) {
    snprintf(room, sizeof(room), "room-%d", i % 500);
    conns[i] = member(&f, room, "", CHAT_NOTICES_NONE, MEM_WRITE_SYNC);
    ASSERT(conns[i] != NULL);
  }
  fx_step(&f);
  ASSERT(strstr(a->out, "\"b\"") == NULL && strstr(b->out, "\"a\"") == NULL);
  ASSERT_EQ(presence.nrooms, 502);
  ASSERT_EQ(chat_presence_count(&presence, "room-7"), 2);
  ASSERT_EQ(chat_presence_count(&presence, "nobody"), 0);
  for (i = 0; i < 1000; i++)
    leave(conns[i]);
  ASSERT_EQ(presence.nrooms, 2);
  ASSERT_EQ(chat_presence_count(&presence, "room-7"), 0);
  leave(a);
  ASSERT_EQ(chat_presence_count(&presence, "one"), 0);
  ASSERT_EQ(presence.nrooms, 1);
  ASSERT_EQ(finish(&f), 0);
}

/* While the server stops, nobody is told anything. */
TEST(silent_when_stopping) {
  fx f;
  mem_conn *a, *b;

  ASSERT_EQ(start(&f), 0);
  a = member(&f, "r", "a", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  b = member(&f, "r", "b", CHAT_NOTICES_V1, MEM_WRITE_SYNC);
  fx_step(&f);
  a->len = b->len = 0;
  presence.silent = 1;
  leave(b);
  fx_step(&f);
  ASSERT(got(a, ""));
  ASSERT_EQ(finish(&f), 0);
}

static const char *js(const char *s, size_t len, char *out, size_t cap,
                      size_t *need) {
  *need = chat_json_string(s, len, out, cap);
  return out;
}

TEST(json_strings) {
  char out[64];
  size_t need;

  ASSERT_STR_EQ(js("abc", 3, out, sizeof(out), &need), "\"abc\"");
  ASSERT_EQ(need, 5);
  ASSERT_STR_EQ(js("a\"b\\c", 5, out, sizeof(out), &need),
                "\"a\\\"b\\\\c\"");
  ASSERT_STR_EQ(js("\n\x01\x1f\x7f", 4, out, sizeof(out), &need),
                "\"\\u000a\\u0001\\u001f\x7f\"");
  ASSERT_EQ(need, 21);
  ASSERT_STR_EQ(js("caf\xc3\xa9", 5, out, sizeof(out), &need),
                "\"caf\xc3\xa9\"");
  /* What does not fit: cut, terminated, and the length it needs. */
  ASSERT_STR_EQ(js("abcdef", 6, out, 5, &need), "\"abc");
  ASSERT_EQ(need, 8);
  ASSERT_EQ(chat_json_string("\"", 1, NULL, 0), 4);
}

int main(int argc, char **argv) {
  return RUN_TESTS(argc, argv);
}
