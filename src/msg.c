/* Reference-counted messages and their per-transport frames.
 *
 * A copied message is one allocation: the header, HUB_FRAME_HEAD_MAX bytes
 * of room, the payload, HUB_FRAME_TAIL_MAX bytes of room. The first
 * transport that frames it writes its head and tail into that room, so
 * each client of that transport gets the whole frame as ONE buffer: one
 * iovec per message in the vectored write, and no copy of the payload. */
#include <string.h>

#include "hub-int.h"

#define HUB__MSG_FLAGS (HUB_MSG_BINARY | HUB_MSG_RAW | HUB_MSG_CONTROL)

/* A frame must fit one uv_buf_t on every platform (its length is an
 * unsigned int in uv_buf_init()). */
#define HUB__MAX_MSG_LEN                                                    \
  ((size_t)UINT32_MAX - HUB_FRAME_HEAD_MAX - HUB_FRAME_TAIL_MAX)

static void hub__msg_init(hub_msg_t *msg, hub_t *hub, unsigned flags) {
  memset(msg, 0, sizeof(*msg));
  msg->refs = 1;
  msg->flags = (uint16_t)flags;
  msg->hub = hub;
  msg->mem = hub->mem;
}

/* A copied message with `extra` bytes after its tail room (hub_post()
 * keeps the topic there). Arguments are checked by the callers. */
hub_msg_t *hub__msg_alloc(hub_t *hub, const void *data, size_t len,
                          unsigned flags, size_t extra) {
  size_t room = HUB_FRAME_HEAD_MAX + HUB_FRAME_TAIL_MAX;
  hub_msg_t *msg;

  msg = hub__malloc(hub, sizeof(*msg) + room + len + extra);
  if (msg == NULL)
    return NULL;
  hub__msg_init(msg, hub, flags);
  msg->has_room = 1;
  msg->len = len;
  msg->data = (uint8_t *)(msg + 1) + HUB_FRAME_HEAD_MAX;
  if (len > 0)
    memcpy(msg->data, data, len);
  return msg;
}

int hub_msg_new(hub_t *hub, const void *data, size_t len, unsigned flags,
                hub_msg_t **msgp) {
  if (hub == NULL || msgp == NULL || (data == NULL && len > 0) ||
      (flags & ~HUB__MSG_FLAGS) != 0)
    return UV_EINVAL;
  if (len > HUB__MAX_MSG_LEN)
    return HUB_EMSGSIZE;
  *msgp = hub__msg_alloc(hub, data, len, flags, 0);
  return *msgp != NULL ? 0 : UV_ENOMEM;
}

int hub_msg_new_zc(hub_t *hub, void *data, size_t len, unsigned flags,
                   hub_msg_free_cb free_cb, void *user_data,
                   hub_msg_t **msgp) {
  hub_msg_t *msg;

  if (hub == NULL || msgp == NULL || (data == NULL && len > 0) ||
      (flags & ~HUB__MSG_FLAGS) != 0)
    return UV_EINVAL;
  if (len > HUB__MAX_MSG_LEN)
    return HUB_EMSGSIZE;
  msg = hub__malloc(hub, sizeof(*msg));
  if (msg == NULL)
    return UV_ENOMEM;
  hub__msg_init(msg, hub, flags);
  msg->len = len;
  msg->data = data;
  msg->zc_free = free_cb;
  msg->zc_ud = user_data;
  *msgp = msg;
  return 0;
}

hub_msg_t *hub_msg_ref(hub_msg_t *msg) {
  if (msg != NULL)
    msg->refs++;
  return msg;
}

static void hub__slot_release(const hub_allocator_t *mem, hub__frame_slot *slot) {
  if (slot->transport != NULL && slot->frame.body != NULL)
    mem->free(slot->frame.body, mem->user_data);
}

void hub_msg_unref(hub_msg_t *msg) {
  if (msg != NULL)
    hub__msg_unref(msg);
}

/* The last reference is gone. */
void hub__msg_destroy(hub_msg_t *msg) {
  hub__frame_ext *ext;
  hub_allocator_t mem;
  int i;

  mem = msg->mem;
  for (i = 0; i < HUB__INLINE_FRAMES; i++)
    hub__slot_release(&mem, &msg->frames[i]);
  while ((ext = msg->more) != NULL) {
    msg->more = ext->next;
    hub__slot_release(&mem, &ext->slot);
    mem.free(ext, mem.user_data);
  }
  if (msg->zc_free != NULL)
    msg->zc_free(msg->data, msg->len, msg->zc_ud);
  mem.free(msg, mem.user_data);
}

int hub_msg_set_key(hub_msg_t *msg, uint64_t key) {
  if (msg == NULL)
    return UV_EINVAL;
  msg->key = key;
  return 0;
}

HUB__GETTER(uint64_t, hub_msg_key, hub_msg_t, key, 0)
HUB__GETTER(const void *, hub_msg_data, hub_msg_t, data, NULL)
HUB__GETTER(size_t, hub_msg_len, hub_msg_t, len, 0)
HUB__GETTER(unsigned int, hub_msg_flags, hub_msg_t, flags, 0)

void *hub_frame_alloc(const hub_msg_t *msg, size_t size) {
  if (msg == NULL)
    return NULL;
  return msg->mem.malloc(size, msg->mem.user_data);
}

const hub__frame_slot *hub__msg_find_frame(const hub_msg_t *msg,
                                           const hub_transport_t *tp) {
  const hub__frame_ext *ext;
  int i;

  for (i = 0; i < HUB__INLINE_FRAMES; i++)
    if (msg->frames[i].transport == tp)
      return &msg->frames[i];
  for (ext = msg->more; ext != NULL; ext = ext->next)
    if (ext->slot.transport == tp)
      return &ext->slot;
  return NULL;
}

/* Find or build the frame of `msg` for transport `tp`. */
int hub__msg_frame(hub_msg_t *msg, const hub_transport_t *tp,
                   const hub__frame_slot **slotp) {
  hub__frame_slot *slot = NULL;
  hub__frame_ext *ext = NULL;
  hub_frame_t frame;
  int i, err;

  *slotp = hub__msg_find_frame(msg, tp);
  if (*slotp != NULL)
    return 0;

  memset(&frame, 0, sizeof(frame));
  err = tp->frame(tp, msg, &frame);
  if (err == 0 && (frame.head_len > HUB_FRAME_HEAD_MAX ||
                   frame.tail_len > HUB_FRAME_TAIL_MAX ||
                   frame.body_len > HUB__MAX_MSG_LEN))
    err = UV_EINVAL;
  if (err != 0) {
    if (frame.body != NULL)
      msg->mem.free(frame.body, msg->mem.user_data);
    return err < 0 ? err : HUB_ETRANSPORT;
  }

  for (i = 0; i < HUB__INLINE_FRAMES && slot == NULL; i++)
    if (msg->frames[i].transport == NULL)
      slot = &msg->frames[i];
  if (slot == NULL) {
    ext = msg->mem.malloc(sizeof(*ext), msg->mem.user_data);
    if (ext == NULL) {
      if (frame.body != NULL)
        msg->mem.free(frame.body, msg->mem.user_data);
      return UV_ENOMEM;
    }
    ext->next = msg->more;
    msg->more = ext;
    slot = &ext->slot;
  }
  slot->transport = tp;
  slot->frame = frame;
  slot->contiguous = 0;
  if (msg->has_room && !msg->room_used && frame.body == NULL) {
    memcpy(msg->data - frame.head_len, frame.head, frame.head_len);
    memcpy(msg->data + msg->len, frame.tail, frame.tail_len);
    msg->room_used = 1;
    slot->contiguous = 1;
  }
  *slotp = slot;
  return 0;
}

