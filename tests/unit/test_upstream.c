/* test_upstream.c -- relay/upstream.c: which member a new connection gets under each policy,
 * what outcomes and checks do to a member's state (at once on a failure, after three early
 * closes, back-off before a down member is tried again, up again on success), a group of
 * one, and health kept across a reload for members whose settings did not change. */
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "relay/upstream.h"
#include "tests/unit/check.h"

static struct config cfg;

/* n direct members named a, b, c... under policy. */
static struct upstreams *group(size_t n, enum upstream_policy policy)
{
	char err[256];
	struct upstreams *g;

	memset(&cfg, 0, sizeof(cfg));
	cfg.upstream.policy = policy;
	for (size_t i = 0; i < n; i++) {
		config_proxy_defaults(&cfg.proxies[i]);
		cfg.proxies[i].type = PROXY_TYPE_DIRECT;
		cfg.proxies[i].name[0] = (char)('a' + i);
	}
	cfg.n_proxies = n;
	g = upstreams_new(&cfg, NULL, 0, err, sizeof(err));
	if (!g)
		printf("upstreams_new: %s\n", err);
	return g;
}

static void test_failover(void)
{
	struct upstreams *g = group(3, UPSTREAM_FAILOVER);

	CHECK(upstreams_pick(g, 0, 0) == 0);
	CHECK(upstreams_pick(g, 1u << 0, 0) == 1); /* retry skips what was tried */
	CHECK(upstreams_pick(g, 7, 0) == -1);
	/* a failed connect takes it down at once and is news */
	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 10, 10) == true);
	CHECK(upstreams_state(g, 0) == UPSTREAM_DOWN);
	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 10, 10) == false);
	CHECK(upstreams_pick(g, 0, 10) == 1);
	/* back-off: still b at 10.5 s; after it (2 s now, it doubled) a is first again */
	CHECK(upstreams_pick(g, 0, 10.5) == 1);
	CHECK(upstreams_report(g, 0, UPSTREAM_OK, "bytes came back", 13, 13) == false);
	CHECK(upstreams_state(g, 0) == UPSTREAM_UP && upstreams_pick(g, 0, 13) == 0);
	upstreams_put(g);
}

/* A failure of a connection begun before a check found the member back is stale: it
 * must not take the member down again (it did: new connections went on to b until the
 * next check, and test_failover's back-to-a failed now and then under load). */
static void test_stale_failure(void)
{
	struct upstreams *g = group(2, UPSTREAM_FAILOVER);

	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 10, 10) == true);
	CHECK(upstreams_checked(g, 0, true, 0.01, "check answered", 20) == false);
	CHECK(upstreams_state(g, 0) == UPSTREAM_UP);
	/* begun at 19.9 against the dead server, failed at 20.1 */
	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 19.9, 20.1) == false);
	CHECK(upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 19.9, 20.1) == false);
	CHECK(upstreams_state(g, 0) == UPSTREAM_UP && upstreams_pick(g, 0, 20.1) == 0);
	/* begun after it came back: news */
	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 20.2, 20.3) == true);
	CHECK(upstreams_state(g, 0) == UPSTREAM_DOWN);
	upstreams_put(g);
}

/* The mirror case: a connection begun before the member went down answers after (bytes
 * the old server sent before it died) -- the member stays down, and no "down -> up" is
 * logged that a reader (or a test waiting for that line) would take for its return. */
static void test_stale_answer(void)
{
	struct upstreams *g = group(2, UPSTREAM_FAILOVER);

	CHECK(upstreams_checked(g, 0, true, 0.01, "check answered", 5) == false);
	CHECK(upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 9.9, 10) == true);
	/* begun at 9.5, answered at 10.01 */
	CHECK(upstreams_report(g, 0, UPSTREAM_OK, "answered", 9.5, 10.01) == false);
	CHECK(upstreams_state(g, 0) == UPSTREAM_DOWN && upstreams_pick(g, 0, 10.02) == 1);
	/* begun after it went down (its back-off over): news */
	CHECK(upstreams_report(g, 0, UPSTREAM_OK, "answered", 11.5, 11.6) == false);
	CHECK(upstreams_state(g, 0) == UPSTREAM_UP);
	upstreams_put(g);
}

static void test_all_down(void)
{
	struct upstreams *g = group(2, UPSTREAM_FAILOVER);

	upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 100, 100);
	upstreams_report(g, 1, UPSTREAM_FAILED, "refused", 100, 100);
	CHECK(!upstreams_any_up(g));
	CHECK(upstreams_pick(g, 0, 100.5) == -1); /* refused at once */
	/* the back-off over, a connection may try one; a check can bring one back first */
	CHECK(upstreams_pick(g, 0, 101.5) == 0);
	CHECK(upstreams_checked(g, 1, true, 0.02, "check answered", 100.6) == false);
	CHECK(upstreams_any_up(g) && upstreams_pick(g, 0, 100.7) == 1);
	upstreams_put(g);
}

static void test_early_close(void)
{
	struct upstreams *g = group(2, UPSTREAM_FAILOVER);

	CHECK(!upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 1, 1));
	CHECK(!upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 2, 2));
	CHECK(upstreams_state(g, 0) == UPSTREAM_UNKNOWN);
	/* a success in between starts the count again */
	upstreams_report(g, 0, UPSTREAM_OK, "ok", 3, 3);
	CHECK(!upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 4, 4));
	CHECK(!upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 5, 5));
	CHECK(upstreams_report(g, 0, UPSTREAM_EARLY_CLOSE, "eof", 6, 6));
	CHECK(upstreams_state(g, 0) == UPSTREAM_DOWN);
	upstreams_put(g);
}

static void test_fastest_and_rr(void)
{
	struct upstreams *g = group(3, UPSTREAM_FASTEST);

	CHECK(upstreams_pick(g, 0, 0) == 0); /* nothing measured: list order */
	upstreams_checked(g, 0, true, 0.300, "ok", 1);
	upstreams_checked(g, 1, true, 0.050, "ok", 1);
	upstreams_checked(g, 2, true, 0.100, "ok", 1);
	CHECK(upstreams_pick(g, 0, 2) == 1);
	CHECK(upstreams_pick(g, 1u << 1, 2) == 2);
	upstreams_checked(g, 1, false, 0, "timed out", 3);
	CHECK(upstreams_pick(g, 0, 3) == 2);
	upstreams_put(g);

	g = group(3, UPSTREAM_ROUND_ROBIN);
	CHECK(upstreams_pick(g, 0, 0) == 0 && upstreams_pick(g, 0, 0) == 1);
	CHECK(upstreams_pick(g, 0, 0) == 2 && upstreams_pick(g, 0, 0) == 0);
	upstreams_report(g, 1, UPSTREAM_FAILED, "refused", 0, 0);
	CHECK(upstreams_pick(g, 0, 0) == 2 && upstreams_pick(g, 0, 0) == 0);
	upstreams_put(g);
}

static void test_one(void)
{
	struct upstreams *g = group(1, UPSTREAM_FAILOVER);

	upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 0, 0);
	CHECK(upstreams_pick(g, 0, 0) == 0); /* nothing to fail over to: always this one */
	CHECK(upstreams_pick(g, 1, 0) == -1);
	upstreams_put(g);
}

static void test_reload_keeps_health(void)
{
	struct upstreams *g = group(2, UPSTREAM_FAILOVER), *h;
	char err[256];

	upstreams_report(g, 0, UPSTREAM_FAILED, "refused", 0, 0);
	upstreams_checked(g, 1, true, 0.01, "ok", 0);
	cfg.proxies[1].connect_timeout = 3; /* b changes, a does not */
	h = upstreams_new(&cfg, g, 0, err, sizeof(err));
	CHECK(h && upstreams_state(h, 0) == UPSTREAM_DOWN);
	CHECK(h && upstreams_state(h, 1) == UPSTREAM_UNKNOWN);
	CHECK(h && !strcmp(upstreams_name(h, 1), "b") && upstreams_count(h) == 2);
	upstreams_put(g);
	upstreams_put(h);
}

int main(void)
{
	RUN(test_failover);
	RUN(test_stale_failure);
	RUN(test_stale_answer);
	RUN(test_all_down);
	RUN(test_early_close);
	RUN(test_fastest_and_rr);
	RUN(test_one);
	RUN(test_reload_keeps_health);
	CHECK_EXIT();
}
