/* nlalias.c -- reading and writing a link's alias (IFLA_IFALIAS) over rtnetlink.
 *
 * Tun mode writes NL_ALIAS_KEPT on the device it makes persistent for as long as it runs,
 * and clears persistence at a clean exit. A device that still carries the alias when a run
 * starts was left by a run that died: its routes are taken over and it is deleted at
 * exit, unlike a device made by `snet-tun --setup`, which has no such alias.
 */
#include "nllink.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "nlbatch.h"

int nl_alias_set(const char *ifname, const char *alias, char *err, size_t errlen)
{
	unsigned idx = if_nametoindex(ifname);
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh;
	struct nlb *b;
	int rc;

	if (!idx) {
		snprintf(err, errlen, "interface '%s': %s", ifname, strerror(errno));
		return -1;
	}
	b = nlb_open(err, errlen);
	if (!b)
		return -1;
	nlh = nlb_put(b, RTM_NEWLINK, 0, 512);
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
