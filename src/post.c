/* hub_post(): publishing from any thread.
 *
 * Other threads append finished messages to a bounded FIFO under a mutex
 * and wake the loop with a uv_async_t; the loop thread takes the whole
 * list at once and sends each message. One FIFO keeps every thread's
 * messages in the order it posted them. The message (payload and topic)
 * is built by the posting thread, in one allocation, so the loop does no
 * copying. uv_async_send() is called with the lock held, and the loop
 * marks the queue closed under the same lock before it closes the handle,
 * so no thread can wake a closed handle. */
#include <string.h>

#include "hub-int.h"

/* The hub is ready again: take the posted messages left waiting. */
static void hub__post_ready(hub_t *hub, void *arg) {
  (void)arg;
  uv_mutex_lock(&hub->post_lock);
  if (!hub->post_closed && hub->post_head != NULL)
    uv_async_send(&hub->post_async);
  uv_mutex_unlock(&hub->post_lock);
}

/* While the hub is congested, posted messages stay in the post queue,
 * before any posted since, and count against max_posted: the wait falls
 * on the posting threads (UV_EAGAIN), not on the readers. */
static void hub__post_putback(hub_t *hub, hub_msg_t *msg) {
  hub_msg_t *last = msg;
  size_t n = 1;

  while (last->post_next != NULL) {
    last = last->post_next;
    n++;
  }
  uv_mutex_lock(&hub->post_lock);
  last->post_next = hub->post_head;
  if (hub->post_head == NULL)
    hub->post_tail = last;
  hub->post_head = msg;
  hub->post_count += n;
  uv_mutex_unlock(&hub->post_lock);
  if (hub_on_ready(hub, hub__post_ready, NULL) == 1)
    hub__post_ready(hub, NULL);
}

static void hub__on_posted(uv_async_t *async) {
  hub_t *hub = async->data;
  hub_msg_t *msg, *next;

  uv_mutex_lock(&hub->post_lock);
  msg = hub->post_head;
  hub->post_head = hub->post_tail = NULL;
  hub->post_count = 0;
  uv_mutex_unlock(&hub->post_lock);

  hub__enter(hub);
  for (; msg != NULL; msg = next) {
    if (!hub->closing && hub->wait_head != NULL) {
      hub__post_putback(hub, msg);
      break;
    }
    next = msg->post_next;
    msg->post_next = NULL;
    if (hub->closing) {
      hub->stats.posts_dropped++;
    } else {
      hub->stats.posted++;
      if (hub->post_cb != NULL)
        hub->post_cb(hub, msg->post_topic, msg, hub->post_arg);
      else if (msg->post_topic != NULL)
        hub_publish_msg(hub, NULL, msg->post_topic, msg);
      else
        hub_broadcast_msg(hub, NULL, msg);
    }
    hub_msg_unref(msg);
  }
  hub__leave(hub);
}

void hub_set_post_handler(hub_t *hub, hub_post_cb cb, void *arg) {
  if (hub == NULL)
    return;
  hub->post_cb = cb;
  hub->post_arg = cb != NULL ? arg : NULL;
}

int hub__post_init(hub_t *hub) {
  int err;

  err = uv_mutex_init(&hub->post_lock);
  if (err != 0)
    return err;
  err = uv_async_init(hub->loop, &hub->post_async, hub__on_posted);
  if (err != 0) {
    uv_mutex_destroy(&hub->post_lock);
    return err;
  }
  hub->post_async.data = hub;
  /* Waiting for posts must not keep the loop alive. */
  uv_unref((uv_handle_t *)&hub->post_async);
  return 0;
}

/* Refuse further posts and drop what is waiting (counted). */
void hub__post_close(hub_t *hub) {
  hub_msg_t *msg, *next;

  uv_mutex_lock(&hub->post_lock);
  hub->post_closed = 1;
  msg = hub->post_head;
  hub->post_head = hub->post_tail = NULL;
  hub->post_count = 0;
  uv_mutex_unlock(&hub->post_lock);
  for (; msg != NULL; msg = next) {
    next = msg->post_next;
    hub->stats.posts_dropped++;
    hub_msg_unref(msg);
  }
}

int hub_post(hub_t *hub, const char *topic, const void *data, size_t len,
             unsigned int flags) {
  hub_msg_t *msg;
  size_t tlen = 0;
  int err = 0;

  /* Any thread: whether the hub closes is checked under the lock. */
  if ((err = hub__check_send(hub, topic, &tlen, data, len, flags, 0)) != 0)
    return err;

  msg = hub__msg_alloc(hub, data, len, flags, topic != NULL ? tlen + 1 : 0);
  if (msg == NULL)
    return UV_ENOMEM;
  if (topic != NULL) {
    char *t = (char *)msg->data + len + HUB_FRAME_TAIL_MAX;
    memcpy(t, topic, tlen + 1);
    msg->post_topic = t;
  }

  uv_mutex_lock(&hub->post_lock);
  if (hub->post_closed) {
    err = HUB_ECLOSING;
  } else if (hub->post_count >= hub->opts.max_posted) {
    err = UV_EAGAIN;
    hub->posts_refused++;
  } else {
    if (hub->post_tail != NULL)
      hub->post_tail->post_next = msg;
    else
      hub->post_head = msg;
    hub->post_tail = msg;
    hub->post_count++;
    uv_async_send(&hub->post_async);
  }
  uv_mutex_unlock(&hub->post_lock);
  if (err != 0)
    hub_msg_unref(msg);
  return err;
}
