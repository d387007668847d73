/* resolve.h -- host name resolution that never blocks the event loop. */
#ifndef SNET_RESOLVE_H
#define SNET_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct resolver;
struct resolve_req;

/* err is 0 on success, else an EAI_* code (see gai_strerror). addr has `port` set. */
typedef void (*resolve_cb)(void *arg, int err, const struct sockaddr_storage *addr);

struct resolver *resolver_new(struct ev_loop *loop);
/* Waits for lookups still running in worker threads, then frees everything. */
void resolver_free(struct resolver *r);

/* Resolves host (an IP literal or a name) to one address.
 * Returns 1 with *out filled when the answer is known now (literal or cached),
 * 0 when a lookup was started (cb runs later on the loop unless cancelled; *req set),
 * -1 with errno on failure to start. */
int resolver_query(struct resolver *r, const char *host, uint16_t port, struct sockaddr_storage *out,
		   resolve_cb cb, void *arg, struct resolve_req **req);
/* The callback will not run; the request is freed when its thread finishes. */
void resolver_cancel(struct resolve_req *req);

#endif
