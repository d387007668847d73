/* nllink.c -- the tun's own link settings over rtnetlink: MTU, addresses (IPv6 without
 * DAD), up, the check that a persistent device is already so, and the link's alias.
 *
 * Tun mode writes NL_ALIAS_KEPT on the device it makes persistent for as long as it runs,
 * and clears persistence at a clean exit. A device that still carries the alias when a run
 * starts was left by a run that died: its routes are taken over and it is deleted at
 * exit, unlike a device made by `snet-tun --setup`, which has no such alias.
 */
#include "tun/nllink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/config.h"
#include "tun/nlbatch.h"

#define NL_ROOM 512 /* bytes any request here fits in */

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
	mnl_attr_put(nlh, IFA_LOCAL, nl_family_len(a->family), a->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, nl_family_len(a->family), a->addr);
	if (a->family == AF_INET6) {
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	}
	nlb_done(b, EEXIST, 0, "adding address %s to %s", nl_cidr_str(a, s, sizeof(s)), ifname);
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
	idx = nl_ifindex(ifname, err, errlen);
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
			if (!memcmp(a, want[f]->addr, nl_family_len(sa->sa_family)))
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


int nl_alias_set(const char *ifname, const char *alias, char *err, size_t errlen)
{
	unsigned idx = nl_ifindex(ifname, err, errlen);
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh;
	struct nlb *b;
	int rc;

	if (!idx)
		return -1;
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	nlh = nlb_put(b, RTM_NEWLINK, 0, NL_ROOM);
	if (nlh) {
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		ifi->ifi_index = (int)idx;
		/* The kernel takes the attribute's length, so "" (one NUL) clears the alias. */
		mnl_attr_put(nlh, IFLA_IFALIAS, alias[0] ? strlen(alias) : 0, alias);
		nlb_done(b, 0, 0, "setting the alias of %s", ifname);
	}
	rc = nlb_flush(b);
	nlb_close(b);
	return rc;
}

struct alias_q {
	int index;
	char *out;
	size_t outlen;
};

static int alias_cb(const struct nlmsghdr *nlh, void *data)
{
	struct alias_q *q = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)) ||
	    ifi->ifi_index != q->index)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		size_t n;

		if (mnl_attr_get_type(a) != IFLA_IFALIAS)
			continue;
		n = mnl_attr_get_payload_len(a);
		if (n >= q->outlen)
			n = q->outlen - 1;
		memcpy(q->out, mnl_attr_get_payload(a), n);
		q->out[n] = 0;
		q->out[strnlen(q->out, n)] = 0; /* a NUL-terminated payload */
	}
	return MNL_CB_OK;
}

int nl_alias_get(const char *ifname, char *out, size_t outlen, char *err, size_t errlen)
{
	struct alias_q q = { .index = (int)if_nametoindex(ifname), .out = out, .outlen = outlen };
	struct ifinfomsg h = { .ifi_family = AF_UNSPEC };
	struct nlb *b;
	int rc;

	if (!outlen)
		return 0;
	out[0] = 0;
	if (!q.index) {
		snprintf(err, errlen, "interface '%s': %s", ifname, strerror(errno));
		return -1;
	}
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	rc = nlb_dump(b, RTM_GETLINK, &h, sizeof(h), alias_cb, &q, 0, "listing links");
	nlb_close(b);
	return rc;
}
