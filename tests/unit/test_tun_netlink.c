/* test_tun_netlink.c -- tun/tun.c and tun/netlink.c against the real kernel, as root,
 * inside a network namespace of the test's own (unshare(CLONE_NEWNET)), so nothing on
 * the host is touched. Without root (or namespaces) it prints SKIP and passes.
 *
 *   private netns
 *   +-------------------------------------------------------------------------+
 *   |  lo (up)                                                                |
 *   |  snetup0    10.9.0.1/24   fd09::1/64    a tun standing in for the real   |
 *   |             uplink: main has `default dev snetup0` (both families)       |
 *   |  snettest0  198.18.255.1/30  fd00:255::1/126  mtu 1400: the device under |
 *   |             test; table 21326 (0x534e) or, after a swap, 21327 (0x534f), |
 *   |             and rules 5200..5203 lead into it                            |
 *   |  snettest1  persistent tun owned by 65534 (created, reattached, deleted) |
 *   +-------------------------------------------------------------------------+
 *
 * Configuration and routing are checked through `ip` (our own namespace, reading only):
 * the addresses, the rules and the table, and `ip route get ... uid U mark M` for where
 * a packet actually goes. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/config.h"
#include "tests/unit/check.h"
#include "tun/netlink.h"
#include "tun/nllink.h"
#include "tun/tun.h"

#define DEV "snettest0"
#define UPLINK "snetup0"
#define PDEV "snettest1"
#define TABLE 0x534e
#define TABLE2 0x534f
#define MARK 0x534e
#define PRIO 5200

static struct tun *dev, *uplink;

/* CHECK(call == 0), printing err when it is not. */
#define CHECK_OK(call, err)                                                                    \
	do {                                                                                   \
		if ((call) != 0) {                                                             \
			printf("FAIL %s: %s: %s (%s:%d)\n", check_current, #call, err, __FILE__,     \
			       __LINE__);                                                      \
			check_failed_in_test = 1;                                              \
		}                                                                              \
	} while (0)

/* Runs cmd through the shell; its stdout (truncated to outlen) in out. Exit status. */
static int sh(const char *cmd, char *out, size_t outlen)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, r;
	int st;

	out[0] = 0;
	if (!p)
		return -1;
	while (n + 1 < outlen && (r = fread(out + n, 1, outlen - 1 - n, p)) > 0)
		n += r;
	out[n] = 0;
	while (fgetc(p) != EOF)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool sh_has(const char *cmd, const char *needle)
{
	static char out[65536];

	sh(cmd, out, sizeof(out));
	if (strstr(out, needle))
		return true;
	fprintf(stderr, "`%s` lacks \"%s\":\n%s\n", cmd, needle, out);
	return false;
}

static long sh_lines(const char *cmd)
{
	char full[512], out[64];

	snprintf(full, sizeof(full), "{ %s; } 2>/dev/null | wc -l", cmd);
	if (sh(full, out, sizeof(out)) != 0)
		return -1;
	return strtol(out, NULL, 10);
}

/* Where `ip route get` sends dst for uid (and mark, when not 0): "dev NAME" found in it. */
static bool goes(const char *dst, unsigned uid, unsigned mark, const char *ifname)
{
	char cmd[256], want[64], m[32] = "";

	if (mark)
		snprintf(m, sizeof(m), " mark 0x%x", mark);
	snprintf(cmd, sizeof(cmd), "ip route get %s uid %u%s 2>&1", dst, uid, m);
	snprintf(want, sizeof(want), "dev %s ", ifname);
	return sh_has(cmd, want);
}

static struct cidr C(const char *s)
{
	struct cidr c;

	if (cidr_parse(s, &c) < 0) {
		fprintf(stderr, "bad cidr %s\n", s);
		abort();
	}
	return c;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct nl_routes routes_base(void)
{
	return (struct nl_routes){ .ifname = DEV, .table = TABLE, .other_table = TABLE2,
				   .fwmark = MARK, .priority = PRIO };
}

/* Nothing of ours in either family's rules or in either table. */
static bool all_gone(void)
{
	return sh_lines("ip rule show | grep -E '^52(00|01|02|03|04):|lookup 2132[6-9]'") == 0 &&
	       sh_lines("ip -6 rule show | grep -E '^52(00|01|02|03|04):|lookup 2132[6-9]'") == 0 &&
	       sh_lines("ip route show table 21326") == 0 &&
	       sh_lines("ip -6 route show table 21326") == 0 &&
	       sh_lines("ip route show table 21327") == 0 &&
	       sh_lines("ip -6 route show table 21327") == 0 &&
	       sh_lines("ip route show table 21328") == 0 &&
	       sh_lines("ip -6 route show table 21328") == 0 &&
	       sh_lines("ip route show table 21329") == 0 &&
	       sh_lines("ip -6 route show table 21329") == 0;
}

static void test_open_and_configure(void)
{
	struct cidr a4 = C("198.18.255.1"), a6 = C("fd00:255::1");
	char err[256], out[4096];
	int fl;

	a4.prefix = 30;
	a6.prefix = 126;
	dev = tun_open(DEV, err, sizeof(err));
	CHECK(dev != NULL);
	if (!dev) {
		printf("FAIL %s: %s\n", check_current, err);
		return;
	}
	CHECK(tun_created(dev));
	CHECK(strcmp(tun_name(dev), DEV) == 0);
	fl = fcntl(tun_fd(dev), F_GETFL);
	CHECK(fl >= 0 && (fl & O_NONBLOCK));
	CHECK(fcntl(tun_fd(dev), F_GETFD) & FD_CLOEXEC);
	CHECK_OK(nl_link_configure(DEV, 1400, &a4, &a6, err, sizeof(err)), err);
	CHECK(sh_has("ip -o link show dev " DEV, "mtu 1400"));
	CHECK(sh_has("ip -o link show dev " DEV, ",UP"));
	CHECK(sh_has("ip -o addr show dev " DEV, "inet 198.18.255.1/30"));
	CHECK(sh_has("ip -o addr show dev " DEV, "inet6 fd00:255::1/126"));
	CHECK(sh(("ip -o addr show dev " DEV), out, sizeof(out)) == 0 && !strstr(out, "tentative"));
	/* Again: the addresses being there already is fine. */
	CHECK_OK(nl_link_configure(DEV, 1400, &a4, &a6, err, sizeof(err)), err);
	CHECK(sh_lines("ip -o addr show dev " DEV " | grep -v fe80") == 2);
}

static const struct cidr *bypass3(void)
{
	static struct cidr v[3];

	v[0] = C("10.200.0.0/16");
	v[1] = C("192.0.2.0/24");
	v[2] = C("fd00:bbbb::/32");
	return v;
}

static void test_routes_per_uid(void)
{
	static const uint32_t uids[] = { 1000, 1001 }, excl[] = { 1002 };
	struct nl_routes r = routes_base();
	char err[256];
	long n4, n6, t4;

	r.ipv6 = true;
	r.bypass = bypass3();
	r.n_bypass = 3;
	r.uids = uids;
	r.n_uids = 2;
	r.exclude_uids = excl;
	r.n_exclude = 1;
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	for (int v6 = 0; v6 < 2; v6++) {
		const char *rule = v6 ? "ip -6 rule show" : "ip rule show";
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "%s", rule);
		CHECK(sh_has(cmd, "5200:\tfrom all uidrange 1002-1002 lookup main"));
		CHECK(sh_has(cmd, "5201:\tfrom all lookup main suppress_prefixlength 0"));
		CHECK(sh_has(cmd, "5202:\tfrom all fwmark 0x534e goto 5203"));
		CHECK(sh_has(cmd, "5202:\tfrom all uidrange 1000-1000 lookup 21326"));
		CHECK(sh_has(cmd, "5202:\tfrom all uidrange 1001-1001 lookup 21326"));
		CHECK(sh_has(cmd, "5203:\tfrom all nop"));
	}
	CHECK(sh_has("ip route show table 21326", "default dev " DEV));
	CHECK(sh_has("ip route show table 21326", "throw 10.200.0.0/16"));
	CHECK(sh_has("ip route show table 21326", "throw 192.0.2.0/24"));
	CHECK(sh_has("ip -6 route show table 21326", "default dev " DEV));
	CHECK(sh_has("ip -6 route show table 21326", "throw fd00:bbbb::/32"));
	CHECK(sh_lines("ip route show table 21326") == 3);
	CHECK(sh_lines("ip -6 route show table 21326") == 2);

	/* Where packets go. */
	CHECK(goes("8.8.8.8", 1000, 0, DEV));
	CHECK(goes("8.8.8.8", 1001, 0, DEV));
	CHECK(goes("8.8.8.8", 1000, MARK, UPLINK)); /* our own sockets */
	CHECK(goes("8.8.8.8", 2000, 0, UPLINK)); /* not a listed user */
	CHECK(goes("8.8.8.8", 1002, 0, UPLINK)); /* excluded */
	CHECK(goes("10.200.1.1", 1000, 0, UPLINK)); /* bypass */
	CHECK(goes("192.0.2.9", 1000, 0, UPLINK));
	CHECK(goes("10.9.0.5", 1000, 0, UPLINK)); /* main's own more specific route */
	CHECK(goes("2001:db8::1", 1001, 0, DEV));
	CHECK(goes("2001:db8::1", 1001, MARK, UPLINK));
	CHECK(goes("2001:db8::1", 2000, 0, UPLINK));
	CHECK(goes("fd00:bbbb::1", 1001, 0, UPLINK));

	/* Again: replaced, not doubled. */
	n4 = sh_lines("ip rule show");
	n6 = sh_lines("ip -6 rule show");
	t4 = sh_lines("ip route show table 21326");
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	CHECK(sh_lines("ip rule show") == n4);
	CHECK(sh_lines("ip -6 rule show") == n6);
	CHECK(sh_lines("ip route show table 21326") == t4);
	CHECK(n4 == 3 + 6 && n6 == 2 + 6);
}

static void test_routes_all_users(void)
{
	static const uint32_t excl[] = { 1002, 1003 };
	struct nl_routes r = routes_base();
	char err[256];

	r.ipv6 = true;
	r.bypass = bypass3();
	r.n_bypass = 3;
	r.exclude_uids = excl;
	r.n_exclude = 2;
	/* Replaces the per-uid install of the test before. */
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	CHECK(sh_has("ip rule show", "5202:\tnot from all fwmark 0x534e lookup 21326"));
	CHECK(sh_has("ip -6 rule show", "5202:\tnot from all fwmark 0x534e lookup 21326"));
	CHECK(sh_lines("ip rule show | grep uidrange.1000") == 0);
	CHECK(sh_lines("ip rule show | grep -E '^520[0-3]:'") == 4);
	CHECK(sh_lines("ip -6 rule show | grep -E '^520[0-3]:'") == 4);
	CHECK(goes("8.8.8.8", 5, 0, DEV));
	CHECK(goes("8.8.8.8", 0, 0, DEV));
	CHECK(goes("8.8.8.8", 0, MARK, UPLINK));
	CHECK(goes("8.8.8.8", 1003, 0, UPLINK));
	CHECK(goes("10.200.1.1", 5, 0, UPLINK));
	CHECK(goes("2001:db8::1", 5, 0, DEV));
	CHECK(goes("2001:db8::1", 5, MARK, UPLINK));
	CHECK(goes("fd00:bbbb::1", 5, 0, UPLINK));
}

/* Where `ip route get` sends dst, from src (NULL: none), for a packet coming in on iif
 * (NULL: locally generated) with uid / mark: "dev NAME" in the answer. */
static bool goes_from(const char *dst, const char *src, const char *iif, unsigned uid,
		      unsigned mark, const char *ifname)
{
	char cmd[256], want[64];

	snprintf(cmd, sizeof(cmd), "ip route get %s%s%s%s%s uid %u%s 2>&1", dst,
		 src ? " from " : "", src ? src : "", iif ? " iif " : "", iif ? iif : "", uid,
		 mark ? " mark 0x534e" : "");
	snprintf(want, sizeof(want), "dev %s ", ifname);
	return sh_has(cmd, want);
}

#define LAN "snetlan0" /* 198.18.10.1/24, fd00:10::1/64: the gateway's LAN side */

/* The gateway: forwarded packets from the LAN's ranges go into the tun; those of hosts
 * outside them, to the LAN itself, our own (marked, even with a LAN source) and those of
 * local users not captured do not; exclusions apply to local processes only (a forwarded
 * packet is looked up as uid 0); a swap to another LAN list keeps the order that matters;
 * removal takes all five priorities. */
static void test_routes_gateway(void)
{
	static const uint32_t excl[] = { 0 }, uids[] = { 1000 };
	struct cidr lan[2] = { C("198.18.10.0/24"), C("fd00:10::/64") };
	struct cidr lan2[2] = { C("198.18.10.0/25"), C("198.18.12.0/24") };
	struct cidr a4 = C("198.18.10.1"), a6 = C("fd00:10::1");
	struct nl_routes r = routes_base(), b;
	struct tun *lt;
	char err[256] = "", out[256];

	a4.prefix = 24;
	a6.prefix = 64;
	lt = tun_open(LAN, err, sizeof(err));
	CHECK(lt != NULL);
	if (!lt) {
		printf("FAIL %s: %s\n", check_current, err);
		return;
	}
	CHECK_OK(nl_link_configure(LAN, 1500, &a4, &a6, err, sizeof(err)), err);
	/* Input routes for forwarded packets need forwarding (this namespace only). */
	CHECK(sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 "
		 "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf." LAN ".rp_filter=0 2>&1", out,
		 sizeof(out)) == 0);
	r.ipv6 = true;
	r.bypass = bypass3();
	r.n_bypass = 3;
	r.exclude_uids = excl;
	r.n_exclude = 1;
	r.gateway = true;
	r.lan = lan;
	r.n_lan = 2;
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	for (int v6 = 0; v6 < 2; v6++) {
		const char *cmd = v6 ? "ip -6 rule show" : "ip rule show";

		CHECK(sh_has(cmd, "5200:\tfrom all iif lo uidrange 0-0 lookup main"));
		CHECK(sh_has(cmd, "5202:\tfrom all fwmark 0x534e goto 5204"));
		CHECK(sh_has(cmd, "5202:\tfrom all iif lo lookup 21326"));
		CHECK(sh_has(cmd, "5203:\tfrom all iif lo goto 5204"));
		CHECK(sh_has(cmd, v6 ? "5203:\tfrom fd00:10::/64 lookup 21326"
				     : "5203:\tfrom 198.18.10.0/24 lookup 21326"));
		CHECK(sh_has(cmd, "5204:\tfrom all nop"));
	}
	CHECK(goes_from("198.18.1.2", "198.18.10.2", LAN, 0, 0, DEV)); /* the LAN: captured */
	CHECK(goes_from("fd00:1::2", "fd00:10::2", LAN, 0, 0, DEV));
	CHECK(goes_from("198.18.1.2", "198.18.11.2", LAN, 0, 0, UPLINK)); /* outside gateway.lan */
	CHECK(goes_from("198.18.10.3", "198.18.10.2", LAN, 0, 0, LAN)); /* LAN to LAN */
	CHECK(goes_from("10.200.1.1", "198.18.10.2", LAN, 0, 0, UPLINK)); /* bypassed */
	CHECK(goes_from("198.18.1.2", NULL, NULL, 0, 0, UPLINK)); /* local uid 0: excluded */
	CHECK(goes_from("198.18.1.2", NULL, NULL, 5, 0, DEV));
	CHECK(goes_from("198.18.1.2", NULL, NULL, 5, MARK, UPLINK));
	/* our own socket with a LAN source address: never into the tun (no loop) */
	CHECK(goes_from("198.18.1.2", "198.18.10.1", NULL, 5, MARK, UPLINK));
	CHECK(goes_from("fd00:1::2", "fd00:10::1", NULL, 5, MARK, UPLINK));
	CHECK(nl_routes_present(&r, NULL, err, sizeof(err)) == 1);

	/* Per uid, another LAN list, the other table: the LAN rules still come after the
	 * `iif lo goto`, and local users not listed stay out even with a LAN source. */
	b = r;
	b.table = TABLE2;
	b.other_table = TABLE;
	b.uids = uids;
	b.n_uids = 1;
	b.exclude_uids = NULL;
	b.n_exclude = 0;
	b.lan = lan2;
	b.n_lan = 2;
	CHECK_OK(nl_routes_swap(&r, &b, err, sizeof(err)), err);
	CHECK(sh_lines("ip rule show | grep -E '^5203:' | head -n 1 | grep -c 'iif lo goto 5204'") == 1);
	CHECK(sh_lines("ip rule show | grep -E 'lookup 21326|198.18.10.0/24'") == 0);
	CHECK(sh_lines("ip -6 rule show | grep -E '^5203:'") == 1); /* no IPv6 LAN range now */
	CHECK(goes_from("198.18.1.2", "198.18.12.9", LAN, 0, 0, DEV)); /* newly in the LAN */
	CHECK(goes_from("198.18.1.2", "198.18.10.200", LAN, 0, 0, UPLINK)); /* no longer */
	CHECK(goes_from("198.18.1.2", "198.18.10.2", LAN, 0, 0, DEV));
	CHECK(goes_from("fd00:1::2", "fd00:10::2", LAN, 0, 0, UPLINK));
	CHECK(goes_from("198.18.1.2", NULL, NULL, 1000, 0, DEV));
	CHECK(goes_from("198.18.1.2", NULL, NULL, 1001, 0, UPLINK));
	CHECK(goes_from("198.18.1.2", "198.18.10.1", NULL, 1001, 0, UPLINK));
	CHECK(goes_from("198.18.1.2", "198.18.10.1", NULL, 1000, MARK, UPLINK));
	CHECK(nl_routes_present(&b, NULL, err, sizeof(err)) == 1);
	/* Removal: every priority of the five and both tables. */
	CHECK_OK(nl_routes_remove(&b, err, sizeof(err)), err);
	CHECK(all_gone());
	CHECK(sh_lines("ip rule show | grep -E '^520[0-4]:'") == 0);
	CHECK(sh_lines("ip -6 rule show | grep -E '^520[0-4]:'") == 0);
	sh("sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0", out, sizeof(out));
	tun_close(lt);
}

/* capture.cgroups: only packets with the cgroups' mark go in (no uids given). */
static void test_routes_cgroup_mark(void)
{
	struct nl_routes r = routes_base();
	char err[256];

	r.ipv6 = true;
	r.cgroup_mark = MARK + 2;
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	CHECK(sh_has("ip rule show", "5202:\tfrom all fwmark 0x534e goto 5203"));
	CHECK(sh_has("ip rule show", "5202:\tfrom all fwmark 0x5350 lookup 21326"));
	CHECK(sh_has("ip -6 rule show", "5202:\tfrom all fwmark 0x5350 lookup 21326"));
	CHECK(!sh_has("ip rule show", "not from all fwmark"));
	CHECK(goes("8.8.8.8", 1000, MARK + 2, DEV)); /* a captured group's packet */
	CHECK(goes("8.8.8.8", 1000, 0, UPLINK)); /* everyone else */
	CHECK(goes("8.8.8.8", 0, MARK, UPLINK)); /* our own sockets */
	CHECK(goes("2001:db8::1", 1000, MARK + 2, DEV));
	CHECK(goes("2001:db8::1", 1000, 0, UPLINK));
	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
	CHECK(all_gone());
}

static void test_routes_remove(void)
{
	struct nl_routes r = routes_base();
	char err[256];

	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
	CHECK(all_gone());
	CHECK(sh_lines("ip rule show") == 3 && sh_lines("ip -6 rule show") == 2);
	CHECK(goes("8.8.8.8", 5, 0, UPLINK));
	/* Nothing there: still fine. */
	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
}

static void test_routes_v4_only(void)
{
	struct nl_routes r = routes_base();
	char err[256];

	r.bypass = bypass3();
	r.n_bypass = 3;
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	CHECK(sh_lines("ip rule show | grep -E '^520[0-3]:'") == 2);
	CHECK(sh_lines("ip -6 rule show | grep -E '^520[0-3]:'") == 0);
	CHECK(sh_lines("ip -6 route show table 21326") == 0);
	CHECK(goes("8.8.8.8", 5, 0, DEV));
	CHECK(goes("2001:db8::1", 5, 0, UPLINK));
	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
	CHECK(all_gone());
}

/* A request the kernel refuses half-way: the error names it, and nothing is left. */
static void test_routes_failure_rolls_back(void)
{
	struct cidr bad[3] = { C("10.1.0.0/16"), C("10.2.0.0/16"), C("10.3.0.0/16") };
	struct nl_routes r = routes_base();
	char err[256] = "";

	bad[1].prefix = 33;
	r.ipv6 = true;
	r.bypass = bad;
	r.n_bypass = 3;
	CHECK(nl_routes_install(&r, err, sizeof(err)) < 0);
	CHECK(strstr(err, "10.2.0.0/33") != NULL);
	fprintf(stderr, "expected error: %s\n", err);
	CHECK(all_gone());

	r = routes_base();
	r.ifname = "nosuchdev0";
	CHECK(nl_routes_install(&r, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nosuchdev0") != NULL);
	CHECK(all_gone());
}

/* Rules (both families) and both tables, as `ip` shows them. */
static void snapshot(char *out, size_t outlen)
{
	sh("{ ip rule show; ip -6 rule show; ip route show table 21326; ip -6 route show table 21326;"
	   " ip route show table 21327; ip -6 route show table 21327; } 2>/dev/null", out, outlen);
}

/* nl_routes_swap's fill hook: called for the new table once it holds its routes and
 * before any rule leads into it; adds a route of its own; fails when arg says so. */
static int fill_calls;

static int fill_hook(uint32_t table, void *arg, char *err, size_t errlen)
{
	fill_calls++;
	CHECK(table == TABLE2);
	CHECK(sh_lines("ip route show table 21327") == 3);
	CHECK(sh_lines("ip rule show | grep 'lookup 21327'") == 0);
	if (arg) {
		snprintf(err, errlen, "fill refused");
		return -1;
	}
	if (sh("ip route add 198.18.77.7/32 dev " DEV " table 21327", err, errlen) != 0)
		return -1;
	return 0;
}

/* Reloads: the routes move between the two tables, the rule layout follows the spec, the
 * rules both sides have stay, a refused swap changes nothing, and removal and
 * nl_routes_present find the routes in either table. */
static void test_routes_swap(void)
{
	static const uint32_t excl[] = { 1002 }, excl2[] = { 1003 }, uids[] = { 1000, 1001 };
	static char before[65536], after[65536];
	struct cidr nb[3] = { C("10.200.0.0/16"), C("198.18.100.0/24"), C("fd00:bbbb::/32") };
	struct cidr bad[2] = { C("10.1.0.0/16"), C("10.2.0.0/16") };
	struct nl_routes a = routes_base(), b, x;
	char err[256] = "";

	a.ipv6 = true;
	a.bypass = bypass3();
	a.n_bypass = 3;
	a.exclude_uids = excl;
	a.n_exclude = 1;
	CHECK_OK(nl_routes_install(&a, err, sizeof(err)), err);
	b = a;
	b.table = TABLE2;
	b.other_table = TABLE;
	b.bypass = nb;
	b.exclude_uids = excl2;
	/* A fill hook that fails: the swap is undone. */
	snapshot(before, sizeof(before));
	b.fill = fill_hook;
	b.fill_arg = &fill_calls;
	CHECK(nl_routes_swap(&a, &b, err, sizeof(err)) < 0 && strstr(err, "fill refused"));
	snapshot(after, sizeof(after));
	CHECK(strcmp(before, after) == 0);
	b.fill_arg = NULL;
	CHECK_OK(nl_routes_swap(&a, &b, err, sizeof(err)), err);
	CHECK(fill_calls == 2);
	CHECK(sh_has("ip route show table 21327", "198.18.77.7 dev " DEV));
	CHECK(sh_lines("ip route show table 21327") == 4);
	b.fill = NULL;
	for (int v6 = 0; v6 < 2; v6++) {
		const char *cmd = v6 ? "ip -6 rule show" : "ip rule show";
		char grep[96];

		CHECK(sh_has(cmd, "5200:\tfrom all uidrange 1003-1003 lookup main"));
		CHECK(sh_has(cmd, "5201:\tfrom all lookup main suppress_prefixlength 0"));
		CHECK(sh_has(cmd, "5202:\tnot from all fwmark 0x534e lookup 21327"));
		snprintf(grep, sizeof(grep), "%s | grep -E '^520[0-3]:'", cmd);
		CHECK(sh_lines(grep) == 3);
		snprintf(grep, sizeof(grep), "%s | grep -E 'uidrange 1002|lookup 21326'", cmd);
		CHECK(sh_lines(grep) == 0);
	}
	CHECK(sh_lines("ip route show table 21326") == 0);
	CHECK(sh_lines("ip -6 route show table 21326") == 0);
	CHECK(sh_has("ip route show table 21327", "default dev " DEV));
	CHECK(sh_has("ip route show table 21327", "throw 198.18.100.0/24"));
	CHECK(sh_lines("ip -6 route show table 21327") == 2);
	CHECK(goes("8.8.8.8", 5, 0, DEV));
	CHECK(goes("8.8.8.8", 5, MARK, UPLINK));
	CHECK(goes("198.18.100.9", 5, 0, UPLINK)); /* newly bypassed */
	CHECK(goes("192.0.2.9", 5, 0, DEV)); /* no longer */
	CHECK(goes("8.8.8.8", 1002, 0, DEV)); /* no longer excluded */
	CHECK(goes("8.8.8.8", 1003, 0, UPLINK));
	CHECK(goes("fd00:bbbb::1", 5, 0, UPLINK));
	CHECK(goes("2001:db8::1", 5, 0, DEV));
	/* --setup's check finds the routes whichever table holds them. */
	CHECK(nl_routes_present(&a, NULL, err, sizeof(err)) == 1);
	CHECK(nl_routes_present(&b, NULL, err, sizeof(err)) == 1);

	/* Back into the first table, now per uid: the goto and the nop appear. */
	a.uids = uids;
	a.n_uids = 2;
	CHECK_OK(nl_routes_swap(&b, &a, err, sizeof(err)), err);
	for (int v6 = 0; v6 < 2; v6++) {
		const char *cmd = v6 ? "ip -6 rule show" : "ip rule show";
		char grep[96];

		CHECK(sh_has(cmd, "5200:\tfrom all uidrange 1002-1002 lookup main"));
		CHECK(sh_has(cmd, "5202:\tfrom all fwmark 0x534e goto 5203"));
		CHECK(sh_has(cmd, "5202:\tfrom all uidrange 1000-1000 lookup 21326"));
		CHECK(sh_has(cmd, "5202:\tfrom all uidrange 1001-1001 lookup 21326"));
		CHECK(sh_has(cmd, "5203:\tfrom all nop"));
		snprintf(grep, sizeof(grep), "%s | grep -E '^520[0-3]:'", cmd);
		CHECK(sh_lines(grep) == 6);
		snprintf(grep, sizeof(grep), "%s | grep -E 'uidrange 1003|lookup 21327'", cmd);
		CHECK(sh_lines(grep) == 0);
	}
	CHECK(sh_lines("ip route show table 21327") == 0);
	CHECK(sh_lines("ip route show table 21326") == 3);
	CHECK(goes("8.8.8.8", 1000, 0, DEV));
	CHECK(goes("8.8.8.8", 1000, MARK, UPLINK));
	CHECK(goes("8.8.8.8", 2000, 0, UPLINK));
	CHECK(goes("192.0.2.9", 1001, 0, UPLINK));

	/* A swap the kernel refuses half-way (a bad prefix): nothing changes. */
	x = a;
	x.table = TABLE2;
	x.other_table = TABLE;
	bad[1].prefix = 33;
	x.bypass = bad;
	x.n_bypass = 2;
	snapshot(before, sizeof(before));
	CHECK(nl_routes_swap(&a, &x, err, sizeof(err)) < 0);
	CHECK(strstr(err, "10.2.0.0/33") != NULL);
	fprintf(stderr, "expected error: %s\n", err);
	snapshot(after, sizeof(after));
	CHECK(strcmp(before, after) == 0);
	/* So is a swap into the table in use. */
	CHECK(nl_routes_swap(&a, &a, err, sizeof(err)) < 0);
	snapshot(after, sizeof(after));
	CHECK(strcmp(before, after) == 0);

	/* Left in the second table (a run killed after a reload): removal finds it. */
	CHECK_OK(nl_routes_swap(&a, &b, err, sizeof(err)), err);
	a = routes_base();
	CHECK(nl_routes_present(&a, NULL, err, sizeof(err)) == 1);
	CHECK_OK(nl_routes_remove(&a, err, sizeof(err)), err);
	CHECK(all_gone());
	CHECK(nl_routes_present(&a, NULL, err, sizeof(err)) == 0);
}

static size_t load_cidrs(const char *path, struct cidr **out)
{
	FILE *f = fopen(path, "r");
	struct cidr *v = NULL;
	size_t n = 0, cap = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \t\r\n#")] = 0;
		if (!line[0])
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			v = realloc(v, cap * sizeof(*v));
			if (!v)
				abort();
		}
		if (cidr_parse(line, &v[n]) == 0)
			n++;
	}
	fclose(f);
	*out = v;
	return n;
}

static struct cidr *cn;
static size_t n_cn;

static void test_routes_cn_list(void)
{
	struct nl_routes r = routes_base();
	double t0, t1, t2, t3;
	char err[256];

	r.bypass = cn;
	r.n_bypass = n_cn;
	t0 = now_ms();
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	t1 = now_ms();
	CHECK(sh_lines("ip route show table 21326") == (long)n_cn + 1);
	CHECK(goes("1.0.1.7", 5, 0, UPLINK)); /* 1.0.1.0/24 is on the list */
	CHECK(goes("8.8.8.8", 5, 0, DEV));
	t2 = now_ms();
	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
	t3 = now_ms();
	printf("# %s: %zu bypass CIDRs installed in %.0f ms, removed in %.0f ms\n", check_current,
	       n_cn, t1 - t0, t3 - t2);
	CHECK(t1 - t0 < 5000);
	CHECK(all_gone());
}

/* The CN list swapped back and forth six times while a child asks the kernel, over and
 * over, where a foreign and a listed address go: every answer must be the tun for the
 * one and the uplink for the other (a remove-then-install reload fails this). */
static void test_routes_swap_no_gap(void)
{
	struct nl_routes r[2];
	char dir[] = "/tmp/snettest-gap.XXXXXX", cmd[1024], out[256] = "", err[256];
	long lookups = -1, bad = -1;
	FILE *child;

	r[0] = routes_base();
	r[0].bypass = cn;
	r[0].n_bypass = n_cn;
	r[1] = r[0];
	r[1].table = TABLE2;
	r[1].other_table = TABLE;
	CHECK_OK(nl_routes_install(&r[0], err, sizeof(err)), err);
	if (!mkdtemp(dir)) {
		CHECK(!"mkdtemp");
		return;
	}
	/* At most 2000 rounds and 60 s; it stops when the stop file appears. */
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 sh -c 'n=0; bad=0; touch %s/started;"
		 " for i in $(seq 2000); do [ -e %s/stop ] && break;"
		 " ip route get 8.8.8.8 uid 5 | grep -q \"dev " DEV " \" || bad=$((bad+1));"
		 " ip route get 1.0.1.7 uid 5 | grep -q \"dev " UPLINK " \" || bad=$((bad+1));"
		 " n=$((n+1)); done; echo $n $bad'",
		 dir, dir);
	child = popen(cmd, "r");
	CHECK(child != NULL);
	if (!child)
		goto out;
	snprintf(cmd, sizeof(cmd), "%s/started", dir);
	for (int i = 0; i < 100 && access(cmd, F_OK) != 0; i++)
		usleep(50000);
	for (int i = 0; i < 6; i++) {
		double t0 = now_ms(), t;

		CHECK_OK(nl_routes_swap(&r[i % 2], &r[(i + 1) % 2], err, sizeof(err)), err);
		t = now_ms() - t0;
		printf("# %s: swap %d, %zu routes into table %u: %.1f ms\n", check_current, i + 1,
		       n_cn, r[(i + 1) % 2].table, t);
		CHECK(t < 1000);
		usleep(20000);
	}
	snprintf(cmd, sizeof(cmd), "touch %s/stop", dir);
	sh(cmd, out, sizeof(out));
	if (fgets(out, sizeof(out), child))
		sscanf(out, "%ld %ld", &lookups, &bad);
	pclose(child);
	printf("# %s: %ld rounds of lookups during the swaps, %ld wrong\n", check_current, lookups,
	       bad);
	CHECK(lookups > 6 && bad == 0);
	CHECK(sh_lines("ip route show table 21326") == (long)n_cn + 1); /* six swaps: back in A */
	CHECK(sh_lines("ip route show table 21327") == 0);
out:
	CHECK_OK(nl_routes_remove(&r[0], err, sizeof(err)), err);
	CHECK(all_gone());
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd, out, sizeof(out));
}

/* /dev/net/tun may be root's only (0600 here); the permission that matters is the
 * device owner's, checked at TUNSETIFF. So the child gets a mount namespace of its own
 * with a world-usable node in a private tmpfs over /dev/net. 0 or -1. */
static int private_dev_net_tun(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("snettest", "/dev/net", "tmpfs", 0, "mode=0755") < 0 ||
	    mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) < 0 ||
	    chmod("/dev/net/tun", 0666) < 0)
		return -1;
	return 0;
}

/* In a child: become uid (no capabilities left) and try to attach to PDEV. The exit
 * status is 0 when tun_open attached; 2 when it failed naming the owner problem, 4 the
 * missing capability to create. */
static int attach_as(const char *name, uid_t uid)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char err[256];
		struct tun *t;

		if (private_dev_net_tun() < 0) {
			fprintf(stderr, "private /dev/net/tun: %s\n", strerror(errno));
			_exit(8);
		}
		if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
			_exit(9);
		t = tun_open(name, err, sizeof(err));
		if (!t) {
			fprintf(stderr, "expected error (uid %u): %s\n", (unsigned)uid, err);
			if (strstr(err, "owned by another user"))
				_exit(2);
			_exit(strstr(err, "needs CAP_NET_ADMIN") ? 4 : 1);
		}
		_exit(tun_created(t) ? 3 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Where a DNS query (proto "udp"/"tcp", port 53, or `port`) to dst goes for uid / mark. */
static bool goes_port(const char *dst, const char *proto, unsigned port, unsigned uid,
		      unsigned mark, const char *ifname)
{
	char cmd[256], want[64];

	snprintf(cmd, sizeof(cmd), "ip route get %s ipproto %s dport %u uid %u%s 2>&1", dst, proto,
		 port, uid, mark ? " mark 0x534e" : "");
	snprintf(want, sizeof(want), "dev %s ", ifname);
	return sh_has(cmd, want);
}

/* capture_dns: every query to port 53 goes into the tun -- to a resolver main routes
 * directly (10.9.0.53 on the uplink's subnet) and to a bypassed one too -- except our own
 * (marked) and an excluded user's; other ports keep their routes. The DNS table holds
 * the default route alone; a swap moves the rules to the other DNS table; uids narrow
 * it; a run that died is taken over (nl_routes_adopt) with no moment uncaptured;
 * removal takes all four tables. */
static void test_routes_dns(void)
{
	static const uint32_t excl[] = { 1002 }, uids[] = { 1000 };
	struct nl_routes r = routes_base(), b;
	uint32_t in_use = 0;
	char err[256];

	r.ipv6 = true;
	r.bypass = bypass3();
	r.n_bypass = 3;
	r.exclude_uids = excl;
	r.n_exclude = 1;
	r.capture_dns = true;
	CHECK_OK(nl_routes_install(&r, err, sizeof(err)), err);
	CHECK(sh_has("ip rule show", "5200:\tfrom all uidrange 1002-1002 lookup main"));
	CHECK(sh_has("ip rule show", "5200:\tfrom all fwmark 0x534e goto 5201"));
	CHECK(sh_has("ip rule show", "5200:\tfrom all ipproto udp dport 53 lookup 21328"));
	CHECK(sh_has("ip rule show", "5200:\tfrom all ipproto tcp dport 53 lookup 21328"));
	CHECK(sh_has("ip -6 rule show", "5200:\tfrom all ipproto udp dport 53 lookup 21328"));
	CHECK(sh_lines("ip route show table 21328") == 1);
	CHECK(sh_has("ip route show table 21328", "default dev " DEV));
	CHECK(sh_has("ip -6 route show table 21328", "default dev " DEV));
	CHECK(goes_port("10.9.0.53", "udp", 53, 5, 0, DEV)); /* main's specific route */
	CHECK(goes_port("10.9.0.53", "tcp", 53, 5, 0, DEV));
	CHECK(goes_port("10.200.1.1", "udp", 53, 5, 0, DEV)); /* a bypassed resolver */
	CHECK(goes_port("fd09::53", "udp", 53, 5, 0, DEV));
	CHECK(goes_port("fd00:bbbb::1", "tcp", 53, 5, 0, DEV));
	CHECK(goes_port("10.9.0.53", "udp", 53, 5, MARK, UPLINK)); /* our own query */
	CHECK(goes_port("fd09::53", "udp", 53, 5, MARK, UPLINK));
	CHECK(goes_port("10.9.0.53", "udp", 53, 1002, 0, UPLINK)); /* excluded */
	CHECK(goes_port("10.9.0.53", "udp", 5353, 5, 0, UPLINK)); /* not DNS */
	CHECK(goes_port("10.200.1.1", "tcp", 80, 5, 0, UPLINK));
	CHECK(goes_port("8.8.8.8", "udp", 53, 5, MARK, UPLINK));
	CHECK(nl_routes_present(&r, &in_use, err, sizeof(err)) == 1 && in_use == TABLE);

	/* A swap: the rules name the other DNS table, and the old one is emptied. */
	b = r;
	b.table = TABLE2;
	b.other_table = TABLE;
	b.uids = uids;
	b.n_uids = 1;
	CHECK_OK(nl_routes_swap(&r, &b, err, sizeof(err)), err);
	CHECK(sh_has("ip rule show", "5200:\tfrom all uidrange 1000-1000 ipproto udp dport 53 lookup 21329"));
	CHECK(sh_lines("ip rule show | grep 'lookup 21328'") == 0);
	CHECK(sh_lines("ip route show table 21328") == 0);
	CHECK(sh_lines("ip -6 route show table 21328") == 0);
	CHECK(sh_has("ip route show table 21329", "default dev " DEV));
	CHECK(goes_port("10.9.0.53", "udp", 53, 1000, 0, DEV));
	CHECK(goes_port("10.9.0.53", "udp", 53, 2000, 0, UPLINK)); /* not a listed user */
	CHECK(nl_routes_present(&b, &in_use, err, sizeof(err)) == 1 && in_use == TABLE2);

	/* Taken over as a crashed run's: into the other table, nothing left of the old. */
	CHECK_OK(nl_routes_adopt(&r, TABLE2, err, sizeof(err)), err);
	CHECK(sh_lines("ip rule show | grep 'lookup 2132[79]'") == 0);
	CHECK(sh_lines("ip route show table 21327") == 0 && sh_lines("ip route show table 21329") == 0);
	CHECK(goes_port("10.9.0.53", "udp", 53, 2000, 0, DEV));
	CHECK(goes("8.8.8.8", 5, 0, DEV));
	CHECK(goes("10.200.1.1", 5, 0, UPLINK));
	CHECK_OK(nl_routes_remove(&r, err, sizeof(err)), err);
	CHECK(all_gone());
	CHECK(goes_port("10.9.0.53", "udp", 53, 5, 0, UPLINK));
}

static void test_persistent(void)
{
	struct tun *t;
	char err[256];

	t = tun_open(PDEV, err, sizeof(err));
	CHECK(t && tun_created(t));
	if (!t)
		return;
	CHECK_OK(tun_make_persistent(t, 65534, (gid_t)-1, err, sizeof(err)), err);
	/* The alias that marks a run's kept device: written, read back, cleared. */
	{
		char alias[128];

		CHECK_OK(nl_alias_get(PDEV, alias, sizeof(alias), err, sizeof(err)), err);
		CHECK(alias[0] == 0);
		CHECK_OK(nl_alias_set(PDEV, NL_ALIAS_KEPT, err, sizeof(err)), err);
		CHECK_OK(nl_alias_get(PDEV, alias, sizeof(alias), err, sizeof(err)), err);
		CHECK(strcmp(alias, NL_ALIAS_KEPT) == 0);
		CHECK_OK(nl_alias_set(PDEV, "", err, sizeof(err)), err);
		CHECK_OK(nl_alias_get(PDEV, alias, sizeof(alias), err, sizeof(err)), err);
		CHECK(alias[0] == 0);
		CHECK(nl_alias_get("nosuchdev0", alias, sizeof(alias), err, sizeof(err)) < 0);
	}
	/* Persistence off on our own descriptor: the device goes with it. */
	CHECK_OK(tun_set_persist(t, false, err, sizeof(err)), err);
	CHECK_OK(tun_set_persist(t, true, err, sizeof(err)), err);
	tun_close(t);
	CHECK(sh_lines("ip -o link show dev " PDEV " 2>/dev/null") == 1);
	t = tun_open(PDEV, err, sizeof(err));
	CHECK(t && !tun_created(t));
	/* Busy while attached: a second open must say so. */
	CHECK(tun_open(PDEV, err, sizeof(err)) == NULL && strstr(err, "another process"));
	tun_close(t);
	CHECK(attach_as(PDEV, 65534) == 0); /* the owner, unprivileged */
	CHECK(attach_as(PDEV, 65533) == 2); /* anyone else */
	CHECK(attach_as("snettest9", 65534) == 4); /* creating, unprivileged */
	CHECK_OK(tun_delete_persistent(PDEV, err, sizeof(err)), err);
	CHECK(sh_lines("ip -o link show dev " PDEV " 2>/dev/null") == 0);
	CHECK_OK(tun_delete_persistent(PDEV, err, sizeof(err)), err); /* gone already */
}

static void test_errors(void)
{
	char err[256] = "";

	CHECK(tun_open("abcdefghijklmnopqrst", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "abcdefghijklmnopqrst") && strstr(err, "too long"));
	fprintf(stderr, "expected error: %s\n", err);
	CHECK(tun_delete_persistent("lo", err, sizeof(err)) < 0 && strstr(err, "'lo'"));
	fprintf(stderr, "expected error: %s\n", err);
	CHECK(nl_link_configure("nosuchdev0", 1400, NULL, NULL, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nosuchdev0") != NULL);
}

/* lo up; the uplink tun with main's default routes (scaffolding through `ip`). */
static int netns_setup(void)
{
	struct cidr a4 = C("10.9.0.1"), a6 = C("fd09::1");
	char err[256], out[200];

	a4.prefix = 24;
	a6.prefix = 64;
	if (nl_link_configure("lo", 0, NULL, NULL, err, sizeof(err)) < 0)
		goto fail;
	uplink = tun_open(UPLINK, err, sizeof(err));
	if (!uplink || nl_link_configure(UPLINK, 1500, &a4, &a6, err, sizeof(err)) < 0)
		goto fail;
	if (sh("ip route add default dev " UPLINK " && ip -6 route add default dev " UPLINK " 2>&1",
	       out, sizeof(out)) != 0) {
		snprintf(err, sizeof(err), "default routes: %s", out);
		goto fail;
	}
	return 0;
fail:
	printf("FAIL netns_setup: %s\n", err);
	return -1;
}

int main(void)
{
	const char *shared = getenv("SNET_SHARED_DIR");
	char cn_path[4096];

	snprintf(cn_path, sizeof(cn_path), "%s/data/cn-ipv4-cidrs.txt", shared ? shared : "../shared");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP test_tun_netlink: needs root\n");
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		printf("SKIP test_tun_netlink: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 0;
	}
	if (netns_setup() < 0)
		return 1;
	RUN(test_open_and_configure);
	RUN(test_routes_per_uid);
	RUN(test_routes_all_users);
	RUN(test_routes_cgroup_mark);
	RUN(test_routes_remove);
	RUN(test_routes_v4_only);
	RUN(test_routes_failure_rolls_back);
	RUN(test_routes_swap);
	RUN(test_routes_gateway);
	RUN(test_routes_dns);
	n_cn = load_cidrs(cn_path, &cn);
	if (n_cn) {
		RUN(test_routes_cn_list);
		RUN(test_routes_swap_no_gap);
	} else {
		printf("SKIP test_routes_cn_list, test_routes_swap_no_gap: no CIDRs in %s\n", cn_path);
	}
	free(cn);
	RUN(test_persistent);
	RUN(test_errors);
	tun_close(dev);
	tun_close(uplink);
	CHECK_EXIT();
}
