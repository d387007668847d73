/* test_udp_flows.c -- unit tests for the UDP flow table (relay/udp.c) over a direct proxy
 * and a real loop: one flow per (client, destination) whatever else the sockaddrs hold;
 * at udp-max-flows the least recently used flow goes, where a datagram either way counts
 * as use; idle flows expire oldest first, and use keeps a flow.
 *
 *   clients (keys only, never bound)        the flows' sockets        this test
 *   127.0.0.1:5001..5009, [::1]:5001  ---> 127.0.0.1:ephemeral ---> srv  127.0.0.1:P  (dst)
 *                                                                  srv2 127.0.0.1:P2 (dst2)
 *   replies: srv -> a flow's socket -> the reply callback (client, from = dst)
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/net.h"
#include "base/resolve.h"
#include "relay/relay.h"
#include "relay/udp.h"
#include "tests/unit/check.h"

#define NCLIENTS 10

static struct ev_loop *loop;
static struct resolver *res;
static struct relay *relay;
static struct config cfg;
static int srv = -1, srv2 = -1;
static struct sockaddr_storage dst, dst2, cl[NCLIENTS], cl6;
static struct sockaddr_storage from[NCLIENTS]; /* each client's flow socket, as srv saw it */
static int replies;
static struct sockaddr_storage reply_client, reply_from;

static int bound_socket(struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	socklen_t len = sizeof(*ss);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, sizeof(*s4)) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, &len) < 0)
		return -1;
	return fd;
}

static bool setup(void)
{
	static const char yaml[] = "proxy:\n  type: direct\n";
	char err[256];

	loop = ev_loop_new(EVFLAG_AUTO);
	res = resolver_new(loop);
	if (config_load_buffer("test", yaml, strlen(yaml), &cfg, err, sizeof(err)) < 0) {
		printf("config: %s\n", err);
		return false;
	}
	relay = relay_new(loop, res, &cfg, err, sizeof(err));
	if (!relay) {
		printf("relay: %s\n", err);
		return false;
	}
	srv = bound_socket(&dst);
	srv2 = bound_socket(&dst2);
	for (int i = 0; i < NCLIENTS; i++)
		net_pton("127.0.0.1", (uint16_t)(5000 + i), &cl[i]);
	net_pton("::1", 5001, &cl6);
	return srv >= 0 && srv2 >= 0;
}

static void teardown(void)
{
	close(srv);
	close(srv2);
	relay_free(relay);
	resolver_free(res);
	config_free(&cfg);
	ev_loop_destroy(loop);
}

static void on_reply(void *ctx, const struct sockaddr_storage *client,
		     const struct sockaddr_storage *f, const uint8_t *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	replies++;
	reply_client = *client;
	reply_from = *f;
}

/* Reads what reached srv; a datagram "<i>" tells where client i's flow sends from. */
static void srv_drain(void)
{
	char b[16];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	ssize_t n;

	while ((n = recvfrom(srv, b, sizeof(b) - 1, 0, (struct sockaddr *)&ss, &len)) > 0) {
		b[n] = 0;
		int i = atoi(b);
		if (i >= 0 && i < NCLIENTS)
			from[i] = ss;
		len = sizeof(ss);
	}
}

/* Client i sends a datagram to d; true when that opened a new flow. */
static bool up(struct udp_relay *u, const struct sockaddr_storage *c, int i,
	       const struct sockaddr_storage *d)
{
	uint64_t before = udp_relay_stats(u)->flows_total;
	char b[16];

	snprintf(b, sizeof(b), "%d", i);
	udp_relay_send(u, c, d, (const uint8_t *)b, strlen(b));
	srv_drain();
	return udp_relay_stats(u)->flows_total != before;
}

/* srv answers client i's flow; true once the reply came back out for client i from dst. */
static bool down(int i)
{
	int want = replies + 1;

	if (sendto(srv, "r", 1, 0, (struct sockaddr *)&from[i], net_sockaddr_len(&from[i])) != 1)
		return false;
	for (int spin = 0; spin < 2000 && replies < want; spin++) {
		ev_run(loop, EVRUN_NOWAIT);
		if (replies < want)
			usleep(1000);
	}
	return replies == want && net_sockaddr_equal(&reply_client, &cl[i]) &&
	       net_sockaddr_equal(&reply_from, &dst);
}

static void test_udp_lru_eviction(void)
{
	struct udp_relay *u = udp_relay_new(loop, relay, 60, 3, on_reply, NULL);
	const struct udp_stats *st;
	struct sockaddr_storage c1 = cl[1];

	CHECK(u != NULL);
	if (!u)
		return;
	st = udp_relay_stats(u);
	CHECK(up(u, &cl[1], 1, &dst) && up(u, &cl[2], 2, &dst) && up(u, &cl[3], 3, &dst));
	CHECK(st->flows_active == 3 && st->flows_evicted == 0);
	/* the key is the address and port: padding and the rest of the storage do not count */
	memset(((struct sockaddr_in *)&c1)->sin_zero, 0xAA, 8);
	memset((char *)&c1 + sizeof(struct sockaddr_in), 0x55, sizeof(c1) - sizeof(struct sockaddr_in));
	CHECK(!up(u, &c1, 1, &dst)); /* 1 used: 1 3 2 */
	CHECK(up(u, &cl[4], 4, &dst)); /* 2 goes: 4 1 3 */
	CHECK(st->flows_evicted == 1 && st->flows_active == 3);
	CHECK(down(3)); /* a reply is use too: 3 4 1 */
	CHECK(up(u, &cl[5], 5, &dst)); /* 1 goes: 5 3 4 */
	CHECK(st->flows_evicted == 2);
	CHECK(!up(u, &cl[3], 3, &dst)); /* 3 5 4 */
	CHECK(!up(u, &cl[4], 4, &dst)); /* 4 3 5 */
	CHECK(up(u, &cl[1], 1, &dst)); /* 5 goes: 1 4 3 */
	CHECK(up(u, &cl[2], 2, &dst)); /* 3 goes: 2 1 4 */
	CHECK(!up(u, &cl[4], 4, &dst) && !up(u, &cl[1], 1, &dst)); /* 1 4 2 */
	CHECK(st->flows_evicted == 4 && st->flows_total == 7 && st->flows_active == 3);
	/* another destination, or the same port on another family: other flows */
	CHECK(up(u, &cl[1], 1, &dst2)); /* 2 goes */
	CHECK(up(u, &cl6, 1, &dst)); /* 4 goes */
	CHECK(!up(u, &cl[1], 1, &dst) && !up(u, &cl[1], 1, &dst2) && !up(u, &cl6, 1, &dst));
	CHECK(st->flows_evicted == 6 && st->flows_active == 3 && st->flows_expired == 0);
	CHECK(st->dropped == 0);
	udp_relay_free(u); /* three flows still open */
}

/* The idle test's script, in seconds after the relay was made (its sweep runs every
 * second from then): each step's margin to a sweep is at least 0.3 s. */
static struct udp_relay *idle_u;
static ev_tstamp t0;
static int step;
static uint64_t seen_expired[4], seen_active[4];

static void idle_step(struct ev_loop *l, ev_timer *w, int revents)
{
	static const double at[] = { 0.2, 1.5, 3.5, 5.3, 6.4 };
	const struct udp_stats *st = udp_relay_stats(idle_u);

	(void)revents;
	switch (step) {
	case 0: /* sweeps at 1 and 2 leave it; at 3 it is 2.8 s idle */
		up(idle_u, &cl[1], 1, &dst);
		break;
	case 1: /* 1.5 s idle at the sweep at 3 */
		up(idle_u, &cl[2], 2, &dst);
		break;
	case 2: /* the sweep at 3 took flow 1 only; flow 2 is used again (idle from 3.5) */
	case 3: /* flow 2 lived through the sweeps at 4 and 5 */
	case 4: /* and went at 6 */
		seen_expired[step - 2] = st->flows_expired;
		seen_active[step - 2] = st->flows_active;
		if (step == 2)
			CHECK(!up(idle_u, &cl[2], 2, &dst));
		break;
	}
	if (++step == (int)(sizeof(at) / sizeof(at[0]))) {
		ev_break(l, EVBREAK_ALL);
		return;
	}
	double left = t0 + at[step] - ev_now(l);
	ev_timer_set(w, left > 0 ? left : 0, 0.);
	ev_timer_start(l, w);
}

static void test_udp_idle_expiry(void)
{
	ev_timer script;

	ev_now_update(loop);
	t0 = ev_now(loop);
	idle_u = udp_relay_new(loop, relay, 2, 16, on_reply, NULL);
	CHECK(idle_u != NULL);
	if (!idle_u)
		return;
	step = 0;
	ev_timer_init(&script, idle_step, 0.2, 0.);
	ev_timer_start(loop, &script);
	ev_run(loop, 0);
	ev_timer_stop(loop, &script);
	CHECK(step == 5);
	CHECK(seen_expired[0] == 1 && seen_active[0] == 1);
	CHECK(seen_expired[1] == 1 && seen_active[1] == 1);
	CHECK(seen_expired[2] == 2 && seen_active[2] == 0);
	CHECK(udp_relay_stats(idle_u)->flows_total == 2);
	udp_relay_free(idle_u);
}

int main(void)
{
	if (!setup()) {
		printf("FAIL setup\n");
		return 1;
	}
	RUN(test_udp_lru_eviction);
	RUN(test_udp_idle_expiry);
	teardown();
	CHECK_EXIT();
}
