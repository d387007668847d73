/* capture.h -- the two capture modes behind one ops table: how traffic reaches the relay.
 *
 * redirect: nftables REDIRECT to a listener (capture/capture_redirect.c);
 * tun: a tun device, policy routes into it, lwIP (capture/capture_tun.c).
 * main.c drives either through these calls, in this order: start; (reload)*;
 * stop_capture (rules/routes go first, so nothing new is captured); relay_free;
 * free. cleanup removes what a killed instance left behind.
 */
#ifndef SNET_CAPTURE_H
#define SNET_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;
struct dns_learned;
struct dns_server;
struct ev_loop;
struct relay;

struct capture_ops {
	const char *name;
	/* Sets everything up for cfg; dns (NULL when off) gets the DNS queries captured.
	 * NULL with err set; nothing is left behind then. */
	void *(*start)(struct ev_loop *loop, struct relay *relay, struct dns_server *dns,
		       const struct config *cfg, char *err, size_t errlen);
	/* Takes the new config's rules (bypass lists, proxy address) atomically. 0 or -1;
	 * on failure the old rules stay. */
	int (*reload)(void *priv, const struct config *cfg, char *err, size_t errlen);
	/* Addresses from DNS answers for bypass-domains (proxy false) or proxy-domains
	 * (proxy true), each for its TTL: reached directly / through the proxy from now
	 * until it runs out, also across reloads. Errors are logged. */
	void (*learn)(void *priv, bool proxy, const struct dns_learned *v, size_t n);
	/* What is running, for the ready line. */
	const char *(*describe)(void *priv, char *buf, size_t len);
	/* Optional: the mode's own counters for the stats line (SIGUSR1), as "key value"
	 * pairs separated by spaces, into buf (empty when there are none). */
	void (*stats)(void *priv, char *buf, size_t len);
	/* Removes rules/routes (first step of shutdown). 0 or -1. */
	int (*stop_capture)(void *priv, char *err, size_t errlen);
	/* Optional: why the capture stopped on its own (it broke the loop), or NULL while it
	 * works; the process then exits 1 after the usual shutdown. */
	const char *(*failed)(void *priv);
	/* Frees the rest, after the relay closed its sessions. NULL is fine. */
	void (*free)(void *priv);
	/* --cleanup: removes what an instance with cfg may have left. 0 or -1. */
	int (*cleanup)(const struct config *cfg, char *err, size_t errlen);
};

extern const struct capture_ops capture_redirect_ops;
extern const struct capture_ops capture_tun_ops;

const struct capture_ops *capture_ops_for(const struct config *cfg);

/* `--setup`: a persistent tun owned by `owner`, configured, and its routes for cfg's
 * uids, all left in place for unprivileged runs. 0, or -1 with err set (nothing left). */
int capture_tun_setup(const struct config *cfg, uid_t owner, char *err, size_t errlen);

#endif
