/* hub-sse: server-sent events (the HTML standard's text/event-stream) as
 * a libhub transport.
 *
 * Copyright (c) libhub contributors. MIT licensed, see LICENSE.
 *
 * The transport frames each message once, for every client of the
 * transport, as one event:
 *
 *   id: ID                 its position (hub.h, "History and resume"),
 *                          as src/net/hubx-id.h writes it; no id
 *                          line for a message without one
 *   event: binary          for a binary message, whose data is base64
 *   data: LINE             one per line of the payload, which is split
 *                          at CRLF, CR and LF as the standard splits it
 *   (an empty line)
 *
 * A control message without HUB_MSG_RAW (the program's notices) becomes
 * an event of type "hub" with the payload as its data: a client's own
 * messages can never look like one. HUB_MSG_RAW messages (the response's
 * head, comments) are written as they are. Text must be UTF-8: a text
 * message that is not is refused for SSE clients (UV_EILSEQ; the hub
 * counts it as refused).
 *
 * The connections are the WebSocket adapter's (hub-ws.h): an application
 * answers a request from its on_request hook with hub_sse_accept(), and
 * the adapter's one request parser, Host/Origin checks, limits and
 * heartbeat serve both. docs/sse.md is the walk-through. */
#ifndef HUB_SSE_H
#define HUB_SSE_H

#include "hub-ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The response head's headers: the type, no caching, and no buffering
 * by proxies that honour X-Accel-Buffering (nginx). */
#define HUB_SSE_HEADERS                                                      \
  "Content-Type: text/event-stream\r\n"                                      \
  "Cache-Control: no-cache\r\n"                                              \
  "X-Accel-Buffering: no\r\n"

/* The transport of SSE clients, one object for all of them. */
HUB_EXTERN const hub_transport_t *hub_sse_transport(void);

/* From a WebSocket server's on_request: answer the request with an event
 * stream (HUB_SSE_HEADERS) and make its connection a client of the hub
 * with hub_sse_transport() (announced by on_connect). The first bytes of
 * the stream tell the browser to reconnect after `retry_ms` (0: its
 * default) when the stream ends. Errors: those of hub_ws_request_stream()
 * (UV_EACCES: an origin not allowed, answer 403). */
HUB_EXTERN int hub_sse_accept(hub_ws_request_t *req, unsigned retry_ms);

/* The bytes of the event for `msg` into `out` (`cap` bytes), as the
 * transport frames it; returns the length, or the length needed if it
 * is larger than `cap`, or UV_EILSEQ (text that is not UTF-8). No I/O:
 * for tests and fuzzing. */
HUB_EXTERN long hub_sse_event(const hub_msg_t *msg, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* HUB_SSE_H */
