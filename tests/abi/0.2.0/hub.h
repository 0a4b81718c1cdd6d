/* libhub 0.2.0: this header as it was released, frozen for tests/abi:
 * a program built against it must run against every later library of the
 * same ABI. Never edit it; a new ABI gets a copy of its own.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * This header is the API reference. Read "Threads" and "Ownership" first.
 *
 * Threads. A hub lives on one uv_loop_t. Every function in this header must
 * be called on that loop's thread, except hub_post(), hub_version(),
 * hub_version_string(), hub_strerror(), hub_err_name() and
 * hub_options_init(), which may be called from any thread.
 *
 * Ownership. The hub owns its clients. A transport (see "Transports") owns
 * its connections. A message is reference counted; every client queue that
 * holds it owns one reference, and the last reference frees it.
 *
 * Callbacks. Every callback the hub makes may call any function of this
 * header, including client_close() on any client and hub_close(). Memory is
 * never freed under a running callback: teardown is deferred until the
 * outermost hub call returns.
 *
 * Errors. Functions that can fail return an int: 0 (or a count) on success
 * and a negative error code on failure. Codes are libuv's (UV_EINVAL,
 * UV_ENOMEM, ...) plus the HUB_E* codes below; hub_strerror() and
 * hub_err_name() describe any of them. When a function that takes a
 * callback fails, the callback is never called; when it succeeds, the
 * callback is called exactly once.
 *
 * Binary compatibility. A public struct keeps its size and the offsets of
 * its fields for the life of an ABI (the library's SOVERSION): a program
 * built against an older header of the same ABI runs against a newer
 * library. Structs that may grow end with reserved space, as libuv's
 * uv_metrics_t does: a new field takes the place of reserved ones, and its
 * value 0 means what the library did before the field existed (a default,
 * or "not set"). So zero-initialize what you fill yourself (a transport:
 * `static const hub_transport_t t = {.frame = ...}`), and let
 * hub_options_init() fill the options. Two structs are complete and never
 * grow: hub_allocator_t (the malloc family) and hub_frame_t (the hub's
 * own, which it zeroes before a transport fills it).
 */
#ifndef HUB_H
#define HUB_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "hub-version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(HUB_BUILDING_SHARED)
#    define HUB_EXTERN __declspec(dllexport)
#  elif defined(HUB_USING_SHARED)
#    define HUB_EXTERN __declspec(dllimport)
#  else
#    define HUB_EXTERN
#  endif
#elif __GNUC__ >= 4
#  define HUB_EXTERN __attribute__((visibility("default")))
#else
#  define HUB_EXTERN
#endif

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

/* libhub's own codes, below libuv's range. XX(name, value, message). */
#define HUB_ERRNO_MAP(XX)                                                    \
  XX(EQFULL, -30001, "client send queue is full")                             \
  XX(ESLOW, -30002, "client disconnected as a slow consumer")                 \
  XX(ECLOSING, -30003, "hub or client is closing")                            \
  XX(EMSGSIZE, -30004, "message is larger than the per-client byte bound")    \
  XX(EBUSY, -30005, "operation not allowed in this state")                    \
  XX(ETRANSPORT, -30006, "transport reported an error")                      \
  XX(ECONGESTED, -30007, "too many messages wait for clients' sockets")

typedef enum {
#define HUB__ERR_ENUM(name, value, msg) HUB_##name = (value),
  HUB_ERRNO_MAP(HUB__ERR_ENUM)
#undef HUB__ERR_ENUM
  HUB__ERR_PLACEHOLDER = 0
} hub_errno_t;

/* A static, human-readable message for any error code (libhub's or
 * libuv's). Never returns NULL. */
HUB_EXTERN const char *hub_strerror(int err);

/* The symbolic name ("HUB_EQFULL", "EINVAL", ...) of any error code.
 * Never returns NULL. */
HUB_EXTERN const char *hub_err_name(int err);

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */

/* HUB_VERSION_HEX of the library actually linked, and its "X.Y.Z" string. */
HUB_EXTERN unsigned int hub_version(void);
HUB_EXTERN const char *hub_version_string(void);

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

typedef struct hub_s hub_t;
typedef struct hub_client_s hub_client_t;
typedef struct hub_msg_s hub_msg_t;
typedef struct hub_transport_s hub_transport_t;

/* What happens when a message does not fit in a client's queue. */
typedef enum {
  /* Close the client; its queued messages are freed. The default, and the
   * behaviour of the classic "hub" design: a reader that cannot keep up
   * is dropped so that it cannot hold memory or slow anyone down. */
  HUB_POLICY_DISCONNECT = 0,
  /* Evict the oldest queued messages that are not being written yet until
   * the new one fits: a slow client keeps its connection and gets the
   * newest data, with a gap that is counted. */
  HUB_POLICY_DROP_OLDEST = 1,
  /* Refuse the new message: a slow client keeps what it has queued. */
  HUB_POLICY_DROP_NEWEST = 2,
  /* Messages of a stream with history (a topic, or the broadcast stream:
   * see "History and resume") that do not fit are not dropped: the client
   * leaves the live stream and reads its history at its own pace as its
   * queue drains, rejoining the live stream once it has caught up. It
   * loses messages only if the history drops them before it read them
   * (HUB_DROP_EXPIRED). Other messages that do not fit (client_send(),
   * streams without history) are handled as by DISCONNECT. */
  HUB_POLICY_CATCH_UP = 3
} hub_policy_t;

/* Why messages were dropped for a client (see hub_options_t.on_drop). */
typedef enum {
  /* The client's queue was full and the policy is DISCONNECT: the client
   * is closed. n_msgs/n_bytes count the new message and all queued ones
   * that are freed without being written. */
  HUB_DROP_DISCONNECT = 1,
  /* DROP_OLDEST evicted queued messages to make room for a new one. */
  HUB_DROP_EVICTED = 2,
  /* DROP_NEWEST refused the new message (or DROP_OLDEST could not make
   * room because everything queued is already being written). */
  HUB_DROP_REFUSED = 3,
  /* The client was closed (by the application, the peer or an error)
   * with messages still queued; they are freed without being written. */
  HUB_DROP_CLOSED = 4,
  /* A newer message with the same key replaced a queued one (see
   * hub_msg_set_key()). */
  HUB_DROP_CONFLATED = 5,
  /* The hub's allocator failed while queueing the message for this
   * client (its queue could not grow, or the frame for its transport
   * could not be made): the message is not queued for it; the client
   * stays. */
  HUB_DROP_NOMEM = 6,
  /* The client was to read these messages from a topic's history
   * (catching up, or resuming), and the history dropped them first.
   * n_bytes is 0: their sizes are no longer known. */
  HUB_DROP_EXPIRED = 7
} hub_drop_reason_t;

/* Message flags, for hub_broadcast(), client_send() and hub_msg_new*().
 * Transports read them through hub_msg_flags(). */
enum {
  /* The payload is binary data (for transports that distinguish text from
   * binary, such as WebSocket). Without it a message is text. */
  HUB_MSG_BINARY = 1u << 0,
  /* The payload is already framed for the client's transport: it is
   * written as is and the transport's frame callback is not called. */
  HUB_MSG_RAW = 1u << 1,
  /* A transport control message (a WebSocket pong or close frame, say):
   * it is written in order with data messages but never counted against
   * the queue bounds and never dropped by the policy. At most
   * HUB_MAX_CONTROL_QUEUED control messages may be queued per client. */
  HUB_MSG_CONTROL = 1u << 2
};

#define HUB_MAX_CONTROL_QUEUED 16

/* Memory allocator hook. All functions are required when a hook is given;
 * they must behave like malloc/realloc/free (realloc(NULL, n) allocates,
 * free(NULL) does nothing). The hub makes every allocation through it.
 * Complete: this struct never grows. */
typedef struct {
  void *(*malloc)(size_t size, void *user_data);
  void *(*realloc)(void *ptr, size_t size, void *user_data);
  void (*free)(void *ptr, void *user_data);
  void *user_data;
} hub_allocator_t;

/* Called when messages are dropped for `client`, once per event, with the
 * reason, the number of messages and of payload bytes dropped. The
 * client may already be closing (reason DISCONNECT or CLOSED). */
typedef void (*hub_drop_cb)(hub_t *hub, hub_client_t *client,
                            hub_drop_reason_t reason, size_t n_msgs,
                            size_t n_bytes);

/* Called once when a client has been fully closed and is about to be
 * freed: release your per-client data here. `status` is 0 for a close
 * requested by the application, HUB_ESLOW for a slow consumer dropped by
 * the policy, or the error the transport reported (UV_EOF when the peer
 * closed). The client must not be used after this callback returns. */
typedef void (*hub_client_close_cb)(hub_t *hub, hub_client_t *client,
                                    int status);

/* Called once when hub_close() has finished; the hub is freed right
 * after the callback returns. */
typedef void (*hub_close_cb)(hub_t *hub);

#define HUB_MAX_WATERMARKS 4

/* The number of watermarks `client`'s queue has reached went from
 * `old_level` to `new_level` (0: below every mark). Rising levels come
 * before the policy has to act, so the application can react first. */
typedef void (*hub_pressure_cb)(hub_t *hub, hub_client_t *client,
                                unsigned old_level, unsigned new_level);

/* `topic` gained its first local subscriber (active 1) or lost its last
 * (active 0). */
typedef void (*hub_topic_cb)(hub_t *hub, const char *topic, int active);

typedef struct {
  /* Bound on the number of data messages queued per client, including
   * those being written. Default 256. Must be >= 1. */
  size_t max_queue_msgs;
  /* Bound on the payload bytes queued per client, including those being
   * written. Framing bytes are not counted. Default 1 MiB. Must be >= 1
   * and below 4 GiB.
   * A message larger than this can never be queued: hub_broadcast() and
   * client_send() refuse it with HUB_EMSGSIZE before touching any queue. */
  size_t max_queue_bytes;
  /* What to do when a message does not fit. Default DISCONNECT. */
  hub_policy_t policy;
  /* Allocator; NULL (the default) means malloc/realloc/free. The struct
   * is copied by hub_new(). */
  const hub_allocator_t *allocator;
  /* Optional callbacks. */
  hub_drop_cb on_drop;
  hub_client_close_cb on_client_close;
  /* Yours; see hub_get_data(). */
  void *data;
  /* Pressure watermarks, in percent of either bound (1-100, ascending;
   * 0 ends the list). on_pressure is told whenever the number of marks a
   * client's queue has reached changes, up or down. Default none. */
  uint8_t watermarks[HUB_MAX_WATERMARKS];
  hub_pressure_cb on_pressure;
  /* Called when a topic gains its first subscriber (active 1) and loses
   * its last (active 0). Optional. */
  hub_topic_cb on_topic;
  /* Bound on messages posted with hub_post() and not yet taken by the
   * loop. Default 65536. Must be >= 1. */
  size_t max_posted;
  /* Bursts (see "Bursts and slow consumers" below). A client is judged
   * by the policy only once the hub has tried to write what it holds:
   * when a message does not fit, the hub first writes to the client at
   * once; if the socket refuses part of it, a client whose write has
   * been waiting for less than slow_after_ms (and that has lost nothing
   * since its last delivery) is not judged yet: the publish waits for
   * its socket instead. Default 500 ms; 0 judges at once (after the
   * write). At most 86,400,000 (a day). */
  uint64_t slow_after_ms;
  /* Bounds on the publishes waiting at once (messages, and payload
   * bytes); past them a publish fails with HUB_ECONGESTED. Defaults 1024
   * and 16 MiB; both >= 1. */
  size_t max_waiting_msgs;
  size_t max_waiting_bytes;
  /* Hub-wide memory budget: the payload bytes queued over all clients
   * never exceed it. When a message would, the policy acts first on the
   * clients holding the most (DISCONNECT closes them, DROP_OLDEST evicts
   * their oldest messages; DROP_NEWEST refuses the new message to the
   * largest holders), until the queues are at most 15/16 of the budget.
   * 0 (the default): no budget, only the per-client bounds. */
  size_t max_total_queue_bytes;
  /* History (see "History and resume"): the messages and payload bytes
   * every topic, and the broadcast stream, keeps, newest first.
   * history_msgs 0 (the default) keeps none, and messages get no
   * positions. history_bytes defaults to 1 MiB. hub_topic_set_history()
   * sets them per topic. */
  size_t history_msgs;
  size_t history_bytes;
  /* Topics whose last subscriber left keep their history, so that
   * clients can resume; at most this many (the least recently used go
   * first). Default 1024. */
  size_t history_idle_topics;
  /* Room for fields of later versions (see "Binary compatibility"). */
  uint64_t reserved[16];
} hub_options_t;

/* Set every option to its default. Always call it before setting fields,
 * so that fields added by later versions get their defaults. */
HUB_EXTERN void hub_options_init(hub_options_t *opts);

/* Statistics of a hub. Counters only grow; `clients`, `queued_*` are
 * current values. */
typedef struct {
  uint64_t clients;          /* clients registered and not closing */
  uint64_t clients_total;    /* clients ever registered */
  uint64_t clients_dropped;  /* clients closed by the DISCONNECT policy */
  uint64_t queued_msgs;      /* data messages queued, over all clients */
  uint64_t queued_bytes;     /* their payload bytes */
  uint64_t msgs_delivered;   /* messages whose write completed */
  uint64_t bytes_delivered;  /* their payload bytes */
  uint64_t msgs_dropped;     /* messages dropped, all reasons */
  uint64_t bytes_dropped;    /* their payload bytes */
  uint64_t broadcasts;       /* successful hub_broadcast*() calls */
  uint64_t writes;           /* vectored writes handed to transports */
  uint64_t publishes;        /* successful hub_publish*() calls */
  uint64_t topics;           /* topics with at least one subscriber */
  uint64_t subscriptions;    /* client-topic pairs */
  uint64_t posted;           /* hub_post() messages sent by the loop */
  uint64_t posts_refused;    /* hub_post() calls refused: queue full */
  uint64_t posts_dropped;    /* posted messages discarded by hub_close() */
  uint64_t waits;            /* publishes that had to wait (see above) */
  uint64_t waiting;          /* publishes waiting now */
  uint64_t waits_refused;    /* publishes refused: HUB_ECONGESTED */
  uint64_t budget_actions;   /* clients the memory budget acted on */
  uint64_t resumes;          /* successful hub_subscribe_from() calls */
  uint64_t history_msgs;     /* messages held in histories now */
  uint64_t history_bytes;    /* their payload bytes */
  uint64_t reserved[16];     /* for later versions; 0 */
} hub_stats_t;

typedef struct {
  uint64_t queued_msgs;      /* data messages queued (incl. being written) */
  uint64_t queued_bytes;     /* their payload bytes */
  uint64_t inflight_msgs;    /* messages in the write now in flight */
  uint64_t msgs_delivered;
  uint64_t bytes_delivered;
  uint64_t msgs_dropped;
  uint64_t bytes_dropped;
  uint64_t writes;
  /* Data messages dropped since the last one delivered to this client:
   * the gap the client is in right now (0 when none; saturates at
   * 2^32 - 1). */
  uint64_t gap;
  unsigned pressure;         /* watermarks reached now */
  unsigned topics;           /* topics subscribed to */
  /* Data messages dropped and not yet taken with client_take_gap(): what
   * that call would return now (saturates at 2^32 - 1). */
  uint64_t gap_untaken;
  unsigned ctrl_queued;      /* control messages queued */
  uint64_t reserved[8];      /* for later versions; 0 */
} hub_client_stats_t;

/* ------------------------------------------------------------------------
 * The hub
 * ------------------------------------------------------------------------ */

/* Create a hub on `loop`. `opts` may be NULL for the defaults; it is
 * copied. On success stores the hub in *hubp and returns 0.
 * Errors: UV_EINVAL (NULL hubp or loop, a zero bound, an unknown policy, an
 * allocator with a missing function), UV_ENOMEM, or an error from
 * uv_check_init()/uv_idle_init()/uv_timer_init().
 * The hub holds uv handles on `loop`; it does not keep the loop alive while
 * idle. Free it with hub_close(). */
HUB_EXTERN int hub_new(hub_t **hubp, uv_loop_t *loop,
                       const hub_options_t *opts);

/* Close the hub: stop accepting messages and registrations, close every
 * client, close the hub's handles, call `cb` (may be NULL), then free the
 * hub. With drain_timeout_ms > 0, clients first get up to that long to
 * write what is queued (no new messages are accepted meanwhile); the rest
 * is then dropped (reason CLOSED). With 0, queued data is dropped at once.
 * The loop must run for the close to finish. Transports' listeners are not
 * the hub's: close them yourself.
 * Errors: UV_EINVAL (NULL hub), HUB_ECLOSING (already closing). */
HUB_EXTERN int hub_close(hub_t *hub, uint64_t drain_timeout_ms,
                         hub_close_cb cb);

/* Nonzero once hub_close() was called (and for NULL). */
HUB_EXTERN int hub_is_closing(const hub_t *hub);

HUB_EXTERN uv_loop_t *hub_get_loop(const hub_t *hub);
HUB_EXTERN void *hub_get_data(const hub_t *hub);
HUB_EXTERN void hub_set_data(hub_t *hub, void *data);

/* Change the overflow policy for messages queued from now on.
 * Errors: UV_EINVAL. */
HUB_EXTERN int hub_set_policy(hub_t *hub, hub_policy_t policy);

/* Fill *stats. Both must be non-NULL (else nothing happens). */
HUB_EXTERN void hub_get_stats(const hub_t *hub, hub_stats_t *stats);

/* The open clients (registered and not closing) by pressure: counts[i]
 * becomes the number of them whose queue has reached exactly i of the
 * hub's watermarks (see hub_options_t.watermarks), for i from 0 (below
 * every mark) to n - 1; a level past the hub's marks counts 0. Walks the
 * clients: O(clients). Returns the number of levels the hub has (its
 * watermarks + 1), or UV_EINVAL (NULL hub, or NULL counts with n > 0). */
HUB_EXTERN int hub_get_pressure(const hub_t *hub, uint64_t *counts,
                                size_t n);

/* ------------------------------------------------------------------------
 * Clients
 * ------------------------------------------------------------------------ */

/* A client joins: `transport` (which must outlive the client) carries its
 * messages over `conn`, the transport's own connection object, which the
 * hub passes back to the transport and never touches. On success stores
 * the client in *clientp and returns 0; from then on the client receives
 * broadcasts, and the transport must eventually call hub_client_closed()
 * once its close() was called.
 * Errors: UV_EINVAL (a NULL argument, a transport without write or close),
 * HUB_ECLOSING (the hub is closing), UV_ENOMEM. */
HUB_EXTERN int hub_register(hub_t *hub, const hub_transport_t *transport,
                            void *conn, hub_client_t **clientp);

/* Close a client: it leaves the hub at once (receives nothing more),
 * its queued messages that are not being written are freed (reported as
 * HUB_DROP_CLOSED), and its transport is asked to close. on_client_close
 * runs later with `status`, once the transport has closed. Closing a
 * client that is already closing does nothing and returns HUB_ECLOSING.
 * Errors: UV_EINVAL (NULL), HUB_ECLOSING. */
HUB_EXTERN int client_close(hub_client_t *client, int status);

/* Close a client gracefully: it leaves the hub at once (receives no more
 * broadcasts; client_send() of data fails with HUB_ECLOSING), but what is
 * queued, and control messages sent after this call, are written first;
 * then the transport is asked to close. on_client_close gets `status` (0
 * for a normal close; a transport closing for a protocol error passes
 * its error). Errors: UV_EINVAL, HUB_ECLOSING. */
HUB_EXTERN int client_shutdown(hub_client_t *client, int status);

/* Nonzero once client_close()/client_shutdown() was called, the policy
 * dropped the client, or its hub is closing. */
HUB_EXTERN int client_is_closing(const hub_client_t *client);

/* The status a closing client was closed with: the one given to
 * client_close() or client_shutdown(), HUB_ESLOW from the DISCONNECT
 * policy, 0 from hub_close(). 0 for an open client or NULL. Transports
 * read it in their close function to tell the peer why. */
HUB_EXTERN int client_close_status(const hub_client_t *client);

HUB_EXTERN hub_t *client_get_hub(const hub_client_t *client);
HUB_EXTERN void *client_get_data(const hub_client_t *client);
HUB_EXTERN void client_set_data(hub_client_t *client, void *data);
/* The `conn` given to hub_register(). */
HUB_EXTERN void *client_get_conn(const hub_client_t *client);
HUB_EXTERN const hub_transport_t *client_get_transport(
    const hub_client_t *client);

/* Carry `client` with `transport` from now on: another framing of the same
 * kind of connection (its write and close must accept the same `conn`),
 * such as an adapter's framing with message ids. Messages queued and not
 * being written yet are framed for it at once (UV_ENOMEM, and nothing
 * changes, if one cannot be). Errors: UV_EINVAL, HUB_ECLOSING, UV_ENOMEM
 * and any error of the transport's frame. */
HUB_EXTERN int client_set_transport(hub_client_t *client,
                                    const hub_transport_t *transport);

/* Fill *stats. Both must be non-NULL (else nothing happens). */
HUB_EXTERN void client_get_stats(const hub_client_t *client,
                                 hub_client_stats_t *stats);

/* ------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------ */

/* Send `len` bytes at `data` to every client of the hub. The payload is
 * copied once into one reference-counted message shared by every queue;
 * `data` is yours again when the call returns. `flags` is a combination of
 * HUB_MSG_BINARY and HUB_MSG_RAW. Clients whose queue is full are handled
 * by the policy and reported to on_drop; that is not an error here.
 * Returns the number of clients the message was queued for (>= 0; for a
 * publish that waits, see "Bursts and slow consumers", the number of
 * clients it is meant for now), or: UV_EINVAL (NULL hub, NULL data with
 * len > 0, unknown flags), HUB_EMSGSIZE (len > max_queue_bytes),
 * HUB_ECLOSING, HUB_ECONGESTED (it would have to wait, and the waiting
 * publishes are at their bounds), UV_ENOMEM. */
HUB_EXTERN int hub_broadcast(hub_t *hub, const void *data, size_t len,
                             unsigned int flags);

/* As hub_broadcast(), but every client except `except` (the sender,
 * typically; may be NULL). */
HUB_EXTERN int hub_broadcast_except(hub_t *hub, hub_client_t *except,
                                    const void *data, size_t len,
                                    unsigned int flags);

/* Send `len` bytes at `data` to one client (copied once). Returns 0 when
 * queued. Errors: UV_EINVAL, HUB_EMSGSIZE, HUB_ECLOSING (client closing),
 * HUB_EQFULL (refused by DROP_NEWEST, or a full control queue),
 * HUB_ESLOW (the DISCONNECT policy closed the client), UV_ENOMEM. A drop
 * is also reported to on_drop. */
HUB_EXTERN int client_send(hub_client_t *client, const void *data,
                           size_t len, unsigned int flags);

/* ------------------------------------------------------------------------
 * Messages, for zero-copy and for sending one message many ways
 * ------------------------------------------------------------------------ */

/* Called when the last reference to a zero-copy message is gone. */
typedef void (*hub_msg_free_cb)(void *data, size_t len, void *user_data);

/* A new message holding a copy of `data` (one allocation for header and
 * payload), with one reference owned by the caller.
 * Errors: UV_EINVAL, UV_ENOMEM. */
HUB_EXTERN int hub_msg_new(hub_t *hub, const void *data, size_t len,
                           unsigned int flags, hub_msg_t **msgp);

/* A new message that takes ownership of `data` without copying it:
 * free_cb(data, len, user_data) is called when the last reference goes
 * (free_cb may be NULL for static data). If this fails, ownership stays
 * with the caller and free_cb is not called.
 * Errors: UV_EINVAL, UV_ENOMEM. */
HUB_EXTERN int hub_msg_new_zc(hub_t *hub, void *data, size_t len,
                              unsigned int flags, hub_msg_free_cb free_cb,
                              void *user_data, hub_msg_t **msgp);

/* Take one more reference / drop one. hub_msg_unref(NULL) does nothing. */
HUB_EXTERN hub_msg_t *hub_msg_ref(hub_msg_t *msg);
HUB_EXTERN void hub_msg_unref(hub_msg_t *msg);

HUB_EXTERN const void *hub_msg_data(const hub_msg_t *msg);
HUB_EXTERN size_t hub_msg_len(const hub_msg_t *msg);
HUB_EXTERN unsigned int hub_msg_flags(const hub_msg_t *msg);

/* Queue `msg` (the caller keeps its own reference) for every client
 * (except `except`, which may be NULL) / for one client. Same returns as
 * hub_broadcast() / client_send(). `msg` must come from the same hub. */
HUB_EXTERN int hub_broadcast_msg(hub_t *hub, hub_client_t *except,
                                 hub_msg_t *msg);
HUB_EXTERN int client_send_msg(hub_client_t *client, hub_msg_t *msg);

/* Give `msg` a conflation key (0 removes it). Under DROP_OLDEST, when a
 * message with a key is queued for a client that still has an older
 * message with the same key waiting (not yet being written), the new one
 * takes the old one's place in the queue and the old one is dropped
 * (reported as HUB_DROP_CONFLATED): a slow client gets the freshest state
 * for each key instead of a backlog. Keys are compared as numbers; each
 * keyed message costs a scan of the client's pending queue. Set the key
 * before queueing the message anywhere. Errors: UV_EINVAL. */
HUB_EXTERN int hub_msg_set_key(hub_msg_t *msg, uint64_t key);
HUB_EXTERN uint64_t hub_msg_key(const hub_msg_t *msg);

/* Return the number of data messages dropped for `client` (for any
 * reason but its own close) since the last call, and start counting
 * again: what an application tells a client it missed. Saturates at
 * 2^32 - 1 between two calls. */
HUB_EXTERN uint64_t client_take_gap(hub_client_t *client);

/* ------------------------------------------------------------------------
 * Topics
 * ------------------------------------------------------------------------
 *
 * A topic is a name, compared byte for byte: 1 to HUB_TOPIC_MAX bytes,
 * NUL-terminated. A client may subscribe to any number of topics; its
 * subscriptions end when it closes (or shuts down). hub_publish() costs
 * O(subscribers of the topic) plus one payload allocation, however many
 * topics exist; subscribing and unsubscribing are O(1) on average. Topic
 * traffic goes through the same queues, bounds and policy as broadcasts.
 */

#define HUB_TOPIC_MAX 255

/* Subscribe `client` to `topic`. Returns 0 when subscribed, 1 when it
 * already was. Errors: UV_EINVAL (NULL, empty topic), UV_ENAMETOOLONG
 * (longer than HUB_TOPIC_MAX), HUB_ECLOSING, UV_ENOMEM. */
HUB_EXTERN int hub_subscribe(hub_client_t *client, const char *topic);

/* End the subscription. Errors: UV_EINVAL, UV_ENAMETOOLONG, UV_ENOENT
 * (not subscribed). */
HUB_EXTERN int hub_unsubscribe(hub_client_t *client, const char *topic);

/* 1 if `client` is subscribed to `topic`, else 0. */
HUB_EXTERN int client_is_subscribed(const hub_client_t *client,
                                    const char *topic);

/* The name of the i-th topic `client` is subscribed to, for i from 0 to
 * its number of topics - 1 (client_get_stats()' `topics`); NULL past the
 * end. The order is unspecified and changes as subscriptions end. The
 * string is the hub's, valid while the client stays subscribed to it: a
 * client in one room finds its name here rather than keeping a copy. A
 * call that may end the subscription (a publish may close slow clients,
 * this one among them) may free it: hub_publish() reads the name before
 * anything else, but copy it to use it after such a call. */
HUB_EXTERN const char *client_topic(const hub_client_t *client, size_t i);

/* The number of clients subscribed to `topic` (0 for an unknown topic). */
HUB_EXTERN size_t hub_topic_subscribers(const hub_t *hub, const char *topic);

/* Send to every subscriber of `topic` (except `except`, which may be
 * NULL). Returns the number of clients the message was queued for (0 if
 * nobody is subscribed), or the errors of hub_broadcast() plus
 * UV_ENAMETOOLONG. */
HUB_EXTERN int hub_publish(hub_t *hub, const char *topic, const void *data,
                           size_t len, unsigned int flags);
HUB_EXTERN int hub_publish_except(hub_t *hub, hub_client_t *except,
                                  const char *topic, const void *data,
                                  size_t len, unsigned int flags);
HUB_EXTERN int hub_publish_msg(hub_t *hub, hub_client_t *except,
                               const char *topic, hub_msg_t *msg);

/* ------------------------------------------------------------------------
 * History and resume
 * ------------------------------------------------------------------------
 *
 * A topic with history keeps references to its newest messages (at most
 * history_msgs and history_bytes; no copies), and gives every message
 * published to it a position in its stream: an epoch, a random 64-bit
 * number drawn when the stream starts empty (a new topic, a restarted
 * process), and an offset, 1 for its first message, then 2, 3 ... A
 * client that knows the position of the last message it got resumes after
 * it with hub_subscribe_from(): the hub queues every later message it
 * still holds, in order, as the client's bounds allow, then the live ones,
 * none twice and none missing between the two. Transports read a
 * message's position with hub_msg_position() to put it on the wire.
 *
 * The hub-wide broadcast stream counts as a topic, named NULL in the
 * functions below: with history_msgs > 0, hub_broadcast*() messages get
 * positions in it and it keeps its own history; every client is in it from
 * hub_register() on, and hub_subscribe_from(client, NULL, ...) resumes it.
 *
 * A message has at most one position: publishing one that already has a
 * position to a stream with history fails with UV_EBUSY (publish a copy).
 * A topic whose last subscriber leaves keeps its history (up to
 * history_idle_topics such topics).
 */

/* Keep at most `max_msgs` messages and `max_bytes` payload bytes of
 * `topic`'s history (creating the topic if needed, without subscribers);
 * such a topic stays, subscribers or not, until its history is turned
 * off: max_msgs 0 turns it off and frees it. A topic whose history starts
 * again starts a new epoch. `topic` NULL: the broadcast stream.
 * Errors: UV_EINVAL, UV_ENAMETOOLONG, UV_ENOMEM. */
HUB_EXTERN int hub_topic_set_history(hub_t *hub, const char *topic,
                                     size_t max_msgs, size_t max_bytes);

/* Keep `topic` (created if needed, with the hub's default history)
 * while it has no subscribers (keep nonzero), or let it go again like any
 * topic without subscribers (keep 0: freed, or kept idle for its history
 * as history_idle_topics allows). For a sequencer that fills a topic's
 * history (hub_publish_at()) before its first subscriber comes. A topic
 * given a history with hub_topic_set_history() is kept already. Returns
 * whether the topic was kept before (1 or 0), or UV_EINVAL (NULL),
 * UV_ENAMETOOLONG, UV_ENOMEM. */
HUB_EXTERN int hub_topic_keep(hub_t *hub, const char *topic, int keep);

/* Where `topic`'s stream stands: its epoch, the offset of the oldest
 * message held (`first`; `first == next` when none is) and the offset the
 * next message will get (`topic` NULL: the broadcast stream's). Any
 * other pointer may be NULL. Errors: UV_EINVAL, UV_ENOENT (no such topic,
 * or no history). */
HUB_EXTERN int hub_topic_position(const hub_t *hub, const char *topic,
                                  uint64_t *epoch, uint64_t *first,
                                  uint64_t *next);

/* The position of `msg` in its topic's stream. Errors: UV_ENOENT (it was
 * not published to a topic with history), UV_EINVAL. */
HUB_EXTERN int hub_msg_position(const hub_msg_t *msg, uint64_t *epoch,
                                uint64_t *offset);

/* Publish `msg` to `topic` (which must have a history) at a position
 * given by someone else: a sequencer that orders a room's messages for
 * several hubs (the Redis backplane's), so that every hub gives a message
 * the same id. Offsets are expected in order, each once: an offset
 * already passed in the topic's epoch is refused (UV_EALREADY), nothing
 * delivered. Another epoch starts the topic's stream again at `offset`
 * (its history is dropped; a subscriber that had not read all of the old
 * stream gets a gap for what it missed, HUB_DROP_EXPIRED). An offset past
 * the next one leaves a hole: the history starts again at `offset`, and
 * subscribers that were at the live edge get a gap of the hole's size
 * (fill holes first, to lose nothing). Otherwise as hub_publish_msg() to
 * every subscriber. Messages published with hub_publish*() meanwhile take
 * the next offsets. Errors: UV_EINVAL (NULL topic, epoch or offset 0, a
 * control message), UV_ENOENT (no history), UV_EBUSY (msg has a position
 * already), UV_EALREADY, and hub_publish_msg()'s. */
HUB_EXTERN int hub_publish_at(hub_t *hub, const char *topic, hub_msg_t *msg,
                              uint64_t epoch, uint64_t offset);

/* Subscribe `client` to `topic` and resume after the message at `epoch`,
 * `after`: the client gets every later message the history holds, then
 * the live stream. `after` 0 means from the oldest message held. Nothing
 * is queued before the hub's next flush, so a notice sent right after
 * this call (client_send()) goes first. *missed (may be NULL) says what
 * the client cannot get: 0 when nothing is lost, the exact number of
 * messages the history no longer holds when `epoch` is the stream's, -1
 * when unknown (another epoch: the stream restarted; or a position it
 * never had). A position of the stream's epoch that it has not reached
 * yet, less than a history's length ahead (positions given with
 * hub_publish_at(), which another hub delivered first), is waited for:
 * the client gets the messages after it as they come, and *missed is 0.
 * A topic without history subscribes as hub_subscribe() (and
 * *missed is -1 unless `after` is 0). Returns 0, or 1 if the client was
 * subscribed already (nothing changes). `topic` NULL resumes the
 * broadcast stream (every client is in it: 0). Errors: those of
 * hub_subscribe(). */
HUB_EXTERN int hub_subscribe_from(hub_client_t *client, const char *topic,
                                  uint64_t epoch, uint64_t after,
                                  int64_t *missed);

/* ------------------------------------------------------------------------
 * Publishing from other threads
 * ------------------------------------------------------------------------
 */

/* The one function of this header that may be called from ANY thread:
 * copy `len` bytes at `data` and hand them to the hub's loop thread, which
 * then broadcasts them (topic NULL) or publishes them to `topic`. Messages
 * posted by one thread are delivered in the order it posted them. The
 * copy uses the hub's allocator, which must then be thread-safe (malloc
 * is). Returns 0 once posted. Errors: UV_EINVAL, UV_ENAMETOOLONG,
 * UV_EAGAIN (max_posted messages are waiting: nothing was queued, try
 * again later), HUB_ECLOSING (hub_close() was called), UV_ENOMEM.
 * Posting threads must stop calling hub_post() before hub_close()'s
 * callback runs: the hub is freed after it. */
HUB_EXTERN int hub_post(hub_t *hub, const char *topic, const void *data,
                        size_t len, unsigned int flags);

/* What the loop thread does with a posted message. By default it
 * broadcasts it (topic NULL) or publishes it to `topic`, as above. A
 * handler set here is called instead, on the loop thread, in each posting
 * thread's order, with a message it may keep (hub_msg_ref()) or send on
 * (hub_broadcast_msg(), hub_publish_msg(), or a backplane's own function,
 * so that posted messages reach other servers too). `topic` is valid only
 * during the call. */
typedef void (*hub_post_cb)(hub_t *hub, const char *topic, hub_msg_t *msg,
                            void *arg);

/* Set the handler of posted messages (NULL: the default). Loop thread
 * only, like everything but hub_post(). Does nothing for a NULL hub. */
HUB_EXTERN void hub_set_post_handler(hub_t *hub, hub_post_cb cb, void *arg);

/* ------------------------------------------------------------------------
 * Bursts and slow consumers
 * ------------------------------------------------------------------------
 *
 * A reader is slow when its socket refuses data, not when the hub has not
 * tried to write yet. So when a message does not fit a client's bounds,
 * the hub first writes what the client holds, at once (the transport's
 * write, which takes what the kernel takes); only what the socket refuses
 * can make the client slow. A client whose socket refuses part of that
 * write is still given slow_after_ms to take it, unless it already lost
 * messages since its last delivery: meanwhile the publish (a broadcast or
 * a topic publish; never client_send()) WAITS, and the policy is applied
 * only to clients whose write is older than slow_after_ms when the
 * publish is tried again.
 *
 * A waiting publish keeps its place: every later broadcast and publish
 * waits behind it, so every client sees one order. It is tried again when
 * the client it waits for finished a write or closed, or its time is up,
 * and then goes to the clients subscribed at that moment. While anything
 * waits the hub is "congested": the wait falls on the senders. Adapters
 * stop reading from a connection once a message it sent leaves the hub
 * congested, and go on when it is ready (hub_on_ready()); hub_post()'s
 * messages are taken from the posting threads only while the hub is not
 * congested. Nothing of this costs anything while no queue is full.
 */

/* Nonzero while publishes wait (and for NULL). */
HUB_EXTERN int hub_is_congested(const hub_t *hub);

typedef void (*hub_ready_cb)(hub_t *hub, void *arg);

/* Call cb(hub, arg) once, from the loop, when the hub is no longer
 * congested (or is closing). Returns 0 when registered (a second call with
 * the same cb and arg registers nothing more), 1 when the hub is not
 * congested (nothing is registered: go on now). Errors: UV_EINVAL,
 * UV_ENOMEM. */
HUB_EXTERN int hub_on_ready(hub_t *hub, hub_ready_cb cb, void *arg);

/* Forget a registration of hub_on_ready(), if there is one. */
HUB_EXTERN void hub_cancel_ready(hub_t *hub, hub_ready_cb cb, void *arg);

/* ------------------------------------------------------------------------
 * Transports
 * ------------------------------------------------------------------------
 *
 * A transport carries a client's messages over its connection. libhub
 * calls three functions of it; the transport calls back two of libhub's.
 * docs/transports.md is the walk-through; this is the contract.
 *
 * frame  Build the wire form of a message, once per message and transport:
 *        the result is cached in the message and shared by every client of
 *        this transport. It returns the bytes written before the payload
 *        (head) and after it (tail), at most HUB_FRAME_HEAD_MAX and
 *        HUB_FRAME_TAIL_MAX bytes. A transport whose wire form is not
 *        "head + payload + tail" (one that escapes bytes, say) may instead
 *        set `body` to a buffer from hub_frame_alloc() that replaces the
 *        payload; it is freed with the message. NULL frame means the payload
 *        is written as is. Messages with HUB_MSG_RAW are never framed.
 *        Return 0 or a negative error (the message is then not queued for
 *        the client, and counted as refused).
 *
 * write  Write `nbufs` buffers in order, as one vectored write. At most
 *        one write per client is in flight: the hub calls write again only
 *        after the previous one completed. The `bufs` array is scratch
 *        space the transport may modify; it is valid only during the call
 *        (uv_write() copies it). The memory the buffers point to stays
 *        valid until completion is reported. Return HUB_WRITE_DONE if every
 *        byte was written before returning (a uv_try_write() that took it
 *        all); HUB_WRITE_PENDING if the write was started and
 *        hub_client_write_done() will be called later (never from inside
 *        write); or a negative error, and the hub closes the client with it.
 *
 * close  Close the connection. Called once per client. The transport must
 *        then call hub_client_closed() exactly once, when its handle is
 *        closed (it may do so before returning). A write in flight may be
 *        completed with hub_client_write_done() before that, or not at all.
 *
 * When the connection fails or the peer goes away, the transport calls
 * client_close(client, error), which calls back into close().
 */

#define HUB_FRAME_HEAD_MAX 14
#define HUB_FRAME_TAIL_MAX 2

enum { HUB_WRITE_PENDING = 0, HUB_WRITE_DONE = 1 };

/* What a transport's frame() fills in for a message. The hub owns it and
 * zeroes it before the call; complete: it never grows. */
typedef struct {
  uint8_t head[HUB_FRAME_HEAD_MAX];
  uint8_t head_len;
  uint8_t tail[HUB_FRAME_TAIL_MAX];
  uint8_t tail_len;
  /* Optional replacement payload from hub_frame_alloc(), or NULL. */
  void *body;
  size_t body_len;
} hub_frame_t;

struct hub_transport_s {
  const char *name; /* for logs; may be NULL */
  /* All three receive the transport itself, so that one transport object
   * can carry its own settings. */
  int (*frame)(const hub_transport_t *transport, const hub_msg_t *msg,
               hub_frame_t *frame);
  int (*write)(const hub_transport_t *transport, hub_client_t *client,
               void *conn, uv_buf_t *bufs, unsigned int nbufs);
  void (*close)(const hub_transport_t *transport, hub_client_t *client,
                void *conn);
  void *data; /* yours */
  /* For later versions: leave them NULL (zero-initialize the struct). */
  void *reserved[4];
};

/* Allocate a replacement body inside a frame callback, with the hub's
 * allocator. Returns NULL when out of memory. */
HUB_EXTERN void *hub_frame_alloc(const hub_msg_t *msg, size_t size);

/* The hub's allocator, for transports and applications that want their
 * memory counted, limited or failed the same way as the hub's (the tests
 * sweep a failing allocator over adapters too). hub_mem_free(hub, NULL)
 * does nothing. hub_mem_realloc(hub, NULL, n) allocates. */
HUB_EXTERN void *hub_mem_alloc(hub_t *hub, size_t size);
HUB_EXTERN void *hub_mem_realloc(hub_t *hub, void *ptr, size_t size);
HUB_EXTERN void hub_mem_free(hub_t *hub, void *ptr);

/* The write in flight for `client` finished: status 0, or a negative
 * error (the hub then closes the client with it, unless it is closing). */
HUB_EXTERN void hub_client_write_done(hub_client_t *client, int status);

/* The transport has closed the client's connection. The hub releases what
 * the client still holds, calls on_client_close and frees the client (at
 * once, or when the outermost hub call returns). Do not use `client`
 * afterwards. */
HUB_EXTERN void hub_client_closed(hub_client_t *client);

#ifdef __cplusplus
}
#endif

#endif /* HUB_H */
