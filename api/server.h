/*
 * server.h — the network surface of comfyd: HTTP/1.1 and the /ws
 * WebSocket on one port (libwebsockets), every route of spec/api.md §1 and
 * the WebSocket protocol of §2.
 *
 * One network thread owns every socket.  The runtime's executor thread
 * never touches a socket: it hands events to the sink that cd_api_serve()
 * installs, which queues them (bounded) and wakes the loop.
 */
#ifndef CD_API_SERVER_H
#define CD_API_SERVER_H

#include "config.h"
#include "log.h"
#include "runtime.h"

/* Serves `rt` on cfg->listen:cfg->port until SIGINT or SIGTERM.  Runs the
 * event loop on the calling thread (which becomes the network thread),
 * installs the runtime's event sink, and removes it again before
 * returning.  `rt`, `cfg` and `log` are borrowed and must outlive the call.
 * Returns the process exit code: 0 after a clean stop on a signal, 1 when
 * the port cannot be bound or the loop cannot start (logged). */
int cd_api_serve(cd_runtime *rt, const cd_config *cfg, cd_logger *log);

#endif
