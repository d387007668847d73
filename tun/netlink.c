/* netlink.c -- rtnetlink for tun mode: the tun's MTU, addresses and link state, and the
 * policy routing (our table and rules, wg-quick style) that sends traffic into it.
 *
 * Everything is said to the kernel directly (no `ip`), through nlbatch so thousands of
 * bypass routes cost a few dozen round trips. Removal is by what the kernel reports, not
 * by what we remember: every rule at one of our priorities or looking up our table, and
 * every route in our table, is dumped and sent back as a delete, so a run that was
 * killed half-way is cleaned up just the same.
 */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/config.h"
#include "nlbatch.h"

#define NL_PRIORITIES 4 /* priority .. priority+3 */
#define NL_ROOM 512 /* bytes any request we build fits in */

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

static size_t family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* "1.2.3.0/24" */
static const char *cidr_str(const struct cidr *c, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	snprintf(out, outlen, "%s/%u", ip, c->prefix);
	return out;
}

/* The interface's index; 0 with err set. */
static unsigned ifindex(const char *ifname, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);

	if (!idx)
		snprintf(err, errlen, "interface '%s': %s", ifname, strerror(errno));
	return idx;
}

/* ---- the link ---- */

static void link_change(struct nlb *b, const char *ifname, unsigned idx, unsigned mtu)
{
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWLINK, 0, NL_ROOM);
	struct ifinfomsg *ifi;

	if (!nlh)
		return;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)idx;
	if (mtu) {
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
		nlb_done(b, 0, 0, "setting the MTU of %s to %u", ifname, mtu);
	} else {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
		nlb_done(b, 0, 0, "setting %s up", ifname);
	}
}

static void addr_add(struct nlb *b, const char *ifname, unsigned idx, const struct cidr *a)
{
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, NL_ROOM);
	struct ifaddrmsg *ifa;
	char s[INET6_ADDRSTRLEN + 4];

	if (!nlh)
		return;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)a->family;
	ifa->ifa_prefixlen = a->prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = idx;
	mnl_attr_put(nlh, IFA_LOCAL, family_len(a->family), a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, family_len(a->family), a->addr);
	if (a->family == AF_INET6) {
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	}
	nlb_done(b, EEXIST, 0, "adding address %s to %s", cidr_str(a, s, sizeof(s)), ifname);
}

int nl_link_configure(const char *ifname, unsigned mtu, const struct cidr *addr4,
		      const struct cidr *addr6, char *err, size_t errlen)
{
	struct nlb *b;
	unsigned idx;
	int rc;

	if ((addr4 && addr4->family != AF_INET) || (addr6 && addr6->family != AF_INET6)) {
		snprintf(err, errlen, "interface '%s': address of the wrong family", ifname);
		return -1;
	}
	idx = ifindex(ifname, err, errlen);
	if (!idx)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	if (mtu)
		link_change(b, ifname, idx, mtu);
	if (addr4)
		addr_add(b, ifname, idx, addr4);
	if (addr6)
		addr_add(b, ifname, idx, addr6);
	link_change(b, ifname, idx, 0);
	rc = nlb_flush(b);
	nlb_close(b);
	return rc;
}

int nl_link_ready(const char *ifname, unsigned mtu, const struct cidr *addr4,
		  const struct cidr *addr6, char *why, size_t whylen)
{
	const struct cidr *want[2] = { addr4, addr6 };
	bool have[2] = { !addr4, !addr6 }, up = false;
	struct ifaddrs *list, *i;
	struct ifreq ifr;
	int fd;

	if (getifaddrs(&list) < 0) {
		snprintf(why, whylen, "listing addresses: %s", strerror(errno));
		return -1;
	}
	for (i = list; i; i = i->ifa_next) {
		if (strcmp(i->ifa_name, ifname) != 0)
			continue;
		up |= (i->ifa_flags & IFF_UP) != 0;
		for (int f = 0; f < 2; f++) {
			const struct sockaddr *sa = i->ifa_addr;
			const void *a;

			if (!want[f] || !sa || sa->sa_family != want[f]->family)
				continue;
			a = sa->sa_family == AF_INET
				    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
				    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
			if (!memcmp(a, want[f]->addr, family_len(sa->sa_family)))
				have[f] = true;
		}
	}
	freeifaddrs(list);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
		snprintf(why, whylen, "interface '%s': %s", ifname, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (!up)
		snprintf(why, whylen, "%s is down", ifname);
	else if (!have[0] || !have[1])
		snprintf(why, whylen, "%s lacks its %s address", ifname, have[0] ? "IPv6" : "IPv4");
	else if (mtu && (unsigned)ifr.ifr_mtu != mtu)
		snprintf(why, whylen, "%s has MTU %d, not %u", ifname, ifr.ifr_mtu, mtu);
	else
		return 1;
	return 0;
}

/* ---- installing routes and rules ---- */

/* A route in our table: the default route into the tun (dst NULL) or a throw route. */
static void route_add(struct nlb *b, const struct nl_routes *r, int family, unsigned idx,
		      const struct cidr *dst)
{
	/* REPLACE makes a bypass CIDR listed twice harmless. */
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWROUTE,
				       NLM_F_CREATE | (dst ? NLM_F_REPLACE : NLM_F_EXCL), NL_ROOM);
	struct rtmsg *rtm;
	char s[INET6_ADDRSTRLEN + 4];

	if (!nlh)
		return;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	if (dst) {
		rtm->rtm_dst_len = dst->prefix;
		rtm->rtm_scope = RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_THROW;
		if (dst->prefix)
			mnl_attr_put(nlh, RTA_DST, family_len(family), dst->addr);
		nlb_done(b, 0, 0, "adding throw route %s to table %u", cidr_str(dst, s, sizeof(s)),
			 r->table);
	} else {
		rtm->rtm_scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
		rtm->rtm_type = RTN_UNICAST;
		mnl_attr_put_u32(nlh, RTA_OIF, idx);
		nlb_done(b, 0, 0, "adding %s default route dev %s to table %u", family_name(family),
			 r->ifname, r->table);
	}
}

struct rule {
	int family;
	uint32_t prio;
	uint8_t action; /* FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP */
	uint32_t table; /* FR_ACT_TO_TBL */
	uint32_t target; /* FR_ACT_GOTO */
	bool invert;
	bool mark;
	uint32_t fwmark;
	bool uid;
	uint32_t uid_val;
	bool suppress; /* suppress_prefixlength 0 */
};

static void rule_add(struct nlb *b, const struct rule *u)
{
	struct nlmsghdr *nlh = nlb_put(b, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, NL_ROOM);
	struct fib_rule_hdr *h;
	char sel[64] = "", act[40];

	if (!nlh)
		return;
	h = mnl_nlmsg_put_extra_header(nlh, sizeof(*h));
	h->family = (uint8_t)u->family;
	h->action = u->action;
	h->flags = u->invert ? FIB_RULE_INVERT : 0;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, u->prio);
	if (u->mark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, u->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffff);
		snprintf(sel, sizeof(sel), "%sfwmark 0x%x ", u->invert ? "not " : "", u->fwmark);
	}
	if (u->uid) {
		struct fib_rule_uid_range range = { .start = u->uid_val, .end = u->uid_val };

		mnl_attr_put(nlh, FRA_UID_RANGE, sizeof(range), &range);
		snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "uidrange %u-%u ",
			 u->uid_val, u->uid_val);
	}
	if (u->suppress)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, 0);
	if (u->action == FR_ACT_TO_TBL) {
		h->table = u->table < 256 ? (uint8_t)u->table : RT_TABLE_UNSPEC;
		mnl_attr_put_u32(nlh, FRA_TABLE, u->table);
		snprintf(act, sizeof(act), "lookup %u%s", u->table,
			 u->suppress ? " suppress_prefixlength 0" : "");
	} else if (u->action == FR_ACT_GOTO) {
		mnl_attr_put_u32(nlh, FRA_GOTO, u->target);
		snprintf(act, sizeof(act), "goto %u", u->target);
	} else {
		snprintf(act, sizeof(act), "nop");
	}
	/* EXCL + EEXIST: a uid listed twice gives one rule. */
	nlb_done(b, EEXIST, 0, "adding %s rule %u: %s%s", family_name(u->family), u->prio, sel, act);
}

static void rules_add(struct nlb *b, const struct nl_routes *r, int family)
{
	const uint32_t p = r->priority;
	struct rule u;

	for (size_t i = 0; i < r->n_exclude; i++) {
		u = (struct rule){ .family = family, .prio = p, .action = FR_ACT_TO_TBL,
				   .table = RT_TABLE_MAIN, .uid = true, .uid_val = r->exclude_uids[i] };
		rule_add(b, &u);
	}
	u = (struct rule){ .family = family, .prio = p + 1, .action = FR_ACT_TO_TBL,
			   .table = RT_TABLE_MAIN, .suppress = true };
	rule_add(b, &u);
	if (!r->n_uids) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .invert = r->fwmark != 0, .mark = r->fwmark != 0,
				   .fwmark = r->fwmark };
		rule_add(b, &u);
		return;
	}
	/* The goto's target first, then the goto, then the uid rules behind it (rules of
	 * one priority are kept in the order they were added). */
	u = (struct rule){ .family = family, .prio = p + 3, .action = FR_ACT_NOP };
	rule_add(b, &u);
	if (r->fwmark) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_GOTO,
				   .target = p + 3, .mark = true, .fwmark = r->fwmark };
		rule_add(b, &u);
	}
	for (size_t i = 0; i < r->n_uids; i++) {
		u = (struct rule){ .family = family, .prio = p + 2, .action = FR_ACT_TO_TBL,
				   .table = r->table, .uid = true, .uid_val = r->uids[i] };
		rule_add(b, &u);
	}
}

int nl_routes_install(const struct nl_routes *r, char *err, size_t errlen)
{
	const int families[2] = { AF_INET, AF_INET6 };
	const int nfam = r->ipv6 ? 2 : 1;
	struct nlb *b;
	unsigned idx;
	int rc;

	if (nl_routes_remove(r, err, errlen) < 0)
		return -1;
	idx = ifindex(r->ifname, err, errlen);
	if (!idx)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	/* The table is complete before any rule leads into it. */
	for (int f = 0; f < nfam; f++) {
		route_add(b, r, families[f], idx, NULL);
		for (size_t i = 0; i < r->n_bypass; i++) {
			if (r->bypass[i].family == families[f])
				route_add(b, r, families[f], idx, &r->bypass[i]);
		}
	}
	for (int f = 0; f < nfam; f++)
		rules_add(b, r, families[f]);
	rc = nlb_flush(b);
	nlb_close(b);
	if (rc < 0) {
		char err2[256];

		if (nl_routes_remove(r, err2, sizeof(err2)) < 0) {
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, "; undoing it failed too: %s", err2);
		}
	}
	return rc;
}

/* ---- removing ---- */

/* Copies of dumped messages that are ours, back to back, each MNL_ALIGNed. */
struct found {
	const struct nl_routes *r;
	char *v;
	size_t len, cap;
};

static int found_add(struct found *f, const struct nlmsghdr *nlh)
{
	size_t need = MNL_ALIGN(nlh->nlmsg_len);

	if (f->len + need > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16384;
		char *v;

		while (cap < f->len + need)
			cap *= 2;
		v = realloc(f->v, cap);
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		f->v = v;
		f->cap = cap;
	}
	memcpy(f->v + f->len, nlh, nlh->nlmsg_len);
	f->len += need;
	return 0;
}

/* A dumped rule's priority and table. -1 when the message is not a rule. */
static int rule_info(const struct nlmsghdr *nlh, uint32_t *prio, uint32_t *table)
{
	const struct fib_rule_hdr *h = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWRULE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*h)))
		return -1;
	*prio = 0;
	*table = h->action == FR_ACT_TO_TBL ? h->table : 0;
	mnl_attr_for_each(a, nlh, sizeof(*h)) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			continue;
		if (mnl_attr_get_type(a) == FRA_PRIORITY)
			*prio = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == FRA_TABLE && h->action == FR_ACT_TO_TBL)
			*table = mnl_attr_get_u32(a);
	}
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	uint32_t prio, table;

	if (rule_info(nlh, &prio, &table) < 0)
		return MNL_CB_OK;
	if ((prio >= f->r->priority && prio - f->r->priority < NL_PRIORITIES) ||
	    table == f->r->table)
		return found_add(f, nlh) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
	return MNL_CB_OK;
}

/* A dumped route's table and destination (prefix 0 when it has none). */
static int route_info(const struct nlmsghdr *nlh, uint32_t *table, struct cidr *dst)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return -1;
	*table = rtm->rtm_table;
	memset(dst, 0, sizeof(*dst));
	dst->family = rtm->rtm_family;
	dst->prefix = rtm->rtm_dst_len;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(a) == RTA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			*table = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == RTA_DST &&
			 mnl_attr_get_payload_len(a) <= sizeof(dst->addr))
			memcpy(dst->addr, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
	}
	return 0;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	struct cidr dst;
	uint32_t table;

	if (route_info(nlh, &table, &dst) < 0 || table != f->r->table)
		return MNL_CB_OK;
	return found_add(f, nlh) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Sends each found message back as a delete; already gone is fine. */
static void found_delete(struct nlb *b, const struct found *f, uint16_t type, int family)
{
	for (size_t off = 0; off < f->len;) {
		const struct nlmsghdr *src = (const struct nlmsghdr *)(f->v + off);
		size_t plen = src->nlmsg_len - MNL_NLMSG_HDRLEN;
		struct nlmsghdr *nlh = nlb_put(b, type, 0, MNL_ALIGN(src->nlmsg_len));
		char s[INET6_ADDRSTRLEN + 4];
		uint32_t prio, table;
		struct cidr dst;

		if (!nlh)
			return;
		memcpy(mnl_nlmsg_put_extra_header(nlh, plen), mnl_nlmsg_get_payload(src), plen);
		if (type == RTM_DELRULE) {
			rule_info(src, &prio, &table);
			nlb_done(b, ENOENT, ESRCH, "removing %s rule %u", family_name(family), prio);
		} else {
			route_info(src, &table, &dst);
			nlb_done(b, ENOENT, ESRCH, "removing route %s from table %u",
				 dst.prefix ? cidr_str(&dst, s, sizeof(s)) : "default", table);
		}
		off += MNL_ALIGN(src->nlmsg_len);
	}
}

/* Dumps `type` for one family, then deletes what is ours. */
static int remove_dumped(struct nlb *b, const struct nl_routes *r, int family, bool rules)
{
	struct found f = { .r = r };
	char what[64];
	int rc;

	snprintf(what, sizeof(what), "listing %s %s", family_name(family), rules ? "rules" : "routes");
	if (rules) {
		struct fib_rule_hdr h = { .family = (uint8_t)family };

		rc = nlb_dump(b, RTM_GETRULE, &h, sizeof(h), rule_cb, &f, EAFNOSUPPORT, what);
	} else {
		struct rtmsg h = { .rtm_family = (uint8_t)family };

		rc = nlb_dump(b, RTM_GETROUTE, &h, sizeof(h), route_cb, &f, EAFNOSUPPORT, what);
	}
	if (rc == 0) {
		found_delete(b, &f, rules ? RTM_DELRULE : RTM_DELROUTE, family);
		rc = nlb_flush(b);
	}
	free(f.v);
	return rc;
}

/* How many of the found messages are rules at priority+2 (the ones leading into the
 * table), or routes without a destination (the default route). */
static size_t found_count(const struct found *f, const struct nl_routes *r, bool rules)
{
	size_t n = 0;

	for (size_t off = 0; off < f->len;) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(f->v + off);
		uint32_t prio, table;
		struct cidr dst;

		if (rules && rule_info(nlh, &prio, &table) == 0 && prio == r->priority + 2)
			n++;
		else if (!rules && route_info(nlh, &table, &dst) == 0 && dst.prefix == 0)
			n++;
		off += MNL_ALIGN(nlh->nlmsg_len);
	}
	return n;
}

int nl_routes_present(const struct nl_routes *r, char *err, size_t errlen)
{
	struct found rules = { .r = r }, routes = { .r = r };
	struct fib_rule_hdr rh = { .family = AF_INET };
	struct rtmsg th = { .rtm_family = AF_INET };
	struct nlb *b = nlb_open(err, errlen);
	int rc;

	if (!b)
		return -1;
	rc = nlb_dump(b, RTM_GETRULE, &rh, sizeof(rh), rule_cb, &rules, 0, "listing IPv4 rules");
	if (rc == 0)
		rc = nlb_dump(b, RTM_GETROUTE, &th, sizeof(th), route_cb, &routes, 0,
			      "listing IPv4 routes");
	if (rc == 0)
		rc = found_count(&rules, r, true) > 0 && found_count(&routes, r, false) > 0;
	free(rules.v);
	free(routes.v);
	nlb_close(b);
	return rc;
}

int nl_routes_remove(const struct nl_routes *r, char *err, size_t errlen)
{
	struct nlb *b = nlb_open(err, errlen);
	int rc;

	if (!b)
		return -1;
	/* Rules first, so nothing is routed into the table while it empties. */
	rc = remove_dumped(b, r, AF_INET, true);
	if (rc == 0)
		rc = remove_dumped(b, r, AF_INET6, true);
	if (rc == 0)
		rc = remove_dumped(b, r, AF_INET, false);
	if (rc == 0)
		rc = remove_dumped(b, r, AF_INET6, false);
	nlb_close(b);
	return rc;
}
