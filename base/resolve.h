/* resolve.h -- host name resolution that never blocks the event loop, with a cache that
 * keeps every address of an answer for the answer's TTL and a pluggable lookup backend. */
#ifndef SNET_RESOLVE_H
#define SNET_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct resolver;
struct resolve_req;

#define RESOLVE_ADDR_MAX 8
/* Cache lifetime bounds for a backend's answer, and the lifetime of a getaddrinfo()
 * answer (which carries no TTL). */
#define RESOLVE_TTL_MIN 10
#define RESOLVE_TTL_MAX 3600
#define RESOLVE_TTL_SYSTEM 60

/* The addresses of one answer, in the order they are tried, and its TTL in seconds. */
struct resolve_answer {
	size_t n;
	struct sockaddr_storage addr[RESOLVE_ADDR_MAX]; /* port 0 */
	uint32_t ttl;
};

/* err is 0 on success, else an EAI_* code (see gai_strerror). addr has `port` set. */
typedef void (*resolve_cb)(void *arg, int err, const struct sockaddr_storage *addr);

struct resolver *resolver_new(struct ev_loop *loop);
/* Waits for lookups still running in worker threads, cancels the backend's, then frees
 * everything. Callbacks never run from here. */
void resolver_free(struct resolver *r);

/* A lookup backend (dns/lookup.c: the domestic resolvers on marked sockets). start looks
 * `host` (a name, never an IP literal) up and calls done(done_arg, err, ans) exactly once,
 * later on the loop (never from inside start), unless cancel(ctx, handle) came first. err
 * is 0 (ans->n >= 1) or an EAI_* code. start returns the handle, or NULL with errno:
 * ENOENT means "not mine" (no usable server: getaddrinfo() is used instead), anything else
 * fails the query. With start NULL, getaddrinfo() alone is used (the default). Replacing a
 * backend cancels its lookups; their queries end with EAI_AGAIN. */
typedef void (*resolve_done_fn)(void *done_arg, int err, const struct resolve_answer *ans);
typedef void *(*resolve_start_fn)(void *ctx, const char *host, resolve_done_fn done,
				  void *done_arg);
typedef void (*resolve_cancel_fn)(void *ctx, void *handle);
void resolver_set_backend(struct resolver *r, resolve_start_fn start, resolve_cancel_fn cancel,
			  void *ctx);

/* Called with every fresh answer (not cache hits) before the queries waiting for it get
 * it; ans->ttl is the clamped time it is cached for. main.c keeps the proxy server's
 * addresses out of the capture with it. */
typedef void (*resolve_answer_fn)(void *ctx, const char *host, const struct resolve_answer *ans);
void resolver_set_on_answer(struct resolver *r, resolve_answer_fn fn, void *ctx);

/* Resolves host (an IP literal or a name) to its first known address, through the
 * backend when there is one. Returns 1 with *out filled when the answer is known now
 * (literal or cached), 0 when a lookup was started (cb runs later on the loop unless
 * cancelled; *req set), -1 with errno on failure to start. */
int resolver_query(struct resolver *r, const char *host, uint16_t port, struct sockaddr_storage *out,
		   resolve_cb cb, void *arg, struct resolve_req **req);
/* The same through getaddrinfo() alone: for the backend's own servers' names, which must
 * never be looked up through the backend itself. */
int resolver_query_system(struct resolver *r, const char *host, uint16_t port,
			  struct sockaddr_storage *out, resolve_cb cb, void *arg,
			  struct resolve_req **req);
/* The callback will not run; the request is freed when its lookup finishes. */
void resolver_cancel(struct resolve_req *req);

/* A connect to addr, an address of host, failed or timed out: the cached answer drops
 * it, so the next query gets the answer's next address, and once none is left looks the
 * name up again. Literals and unknown addresses are ignored. */
void resolver_forget(struct resolver *r, const char *host, const struct sockaddr_storage *addr);

/* A backend's TTL clamped to RESOLVE_TTL_MIN..RESOLVE_TTL_MAX. */
uint32_t resolve_clamp_ttl(uint32_t ttl);

#endif
