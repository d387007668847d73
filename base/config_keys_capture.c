/* config_keys_capture.c -- the capture sections' keys: tun (device name, addresses, MTU,
 * auto-route, uids, UDP flows), redirect (listener, rules, method, uids) and gateway (the
 * LAN), with their cross-key checks. */
#include "base/config_keys.h"

#include <string.h>

#include "base/config_parse.h"

static int config_walk_ifname(struct walk *w, const struct walk_key *k, void *base)
{
	const char *name = (const char *)base + k->off;
	char q[QBUF];
	size_t i;

	if (walk_str(w, k, base) < 0)
		return -1;
	for (i = 0; name[i]; i++)
		if (name[i] <= ' ' || name[i] >= 0x7f || strchr("/:%", name[i]))
			break;
	if (name[i] || i == 0 || !strcmp(name, ".") || !strcmp(name, ".."))
		return walk_fail(w, "invalid interface name '%s' (1..15 characters, none of '/', ':', "
				 "'%%' or spaces)", config_quote(name, strlen(name), q));
	return 0;
}

static int config_walk_redirect_listen(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_redirect *r = base;

	(void)k;
	return config_listen(w, &r->listen, &r->listen_len, false);
}

static int config_walk_tun_address(struct walk *w, const struct walk_key *k, void *base)
{
	struct config_tun *t = base;
	const char *s = NULL;
	char q[QBUF];
	size_t len = 0;

	if (walk_scalar(w, "an address with prefix", &s, &len) < 0)
		return -1;
	if (!strcmp(k->name, "address6")) {
		t->has_address6 = false;
		if (walk_is_null(w) || len == 0)
			return 0;
		if (config_parse_iface(s, len, AF_INET6, &t->address6) < 0)
			return walk_fail(w, "invalid interface address '%s' (expected an IPv6 address "
					 "with prefix, like fdfe:dcba:9876::1/126)",
					 config_quote(s, len, q));
		t->has_address6 = true;
		return 0;
	}
	if (config_parse_iface(s, len, AF_INET, &t->address) < 0)
		return walk_fail(w, "invalid interface address '%s' (expected an IPv4 address with "
				 "prefix, like 198.18.255.1/30)", config_quote(s, len, q));
	return 0;
}

static int config_item_uint(struct walk *w, const struct walk_key *k, void *base, const char *s,
			    size_t len)
{
	char q[QBUF];
	int64_t v;

	if (walk_parse_int(s, len, false, &v) < 0)
		return walk_fail_type(w, "a number");
	if (v < k->min || v > k->max)
		return walk_fail(w, "'%s' is out of range %lld..%lld", config_quote(s, len, q),
				 (long long)k->min, (long long)k->max);
	if (config_uid_list_push((struct uid_list *)((char *)base + k->off), (uint32_t)v) < 0)
		return config_oom(w);
	return 0;
}

enum { TK_NAME, TK_ADDRESS, TK_ADDRESS6, TK_MTU, TK_AUTO_ROUTE, TK_UIDS, TK_EXCLUDE_UIDS };

static int tun_check(struct walk *w, const struct walk_seen *seen, bool present, yaml_mark_t owner,
		     void *base)
{
	const struct config_tun *t = base;

	(void)present;
	(void)owner;
	if (t->has_address6 && t->mtu < 1280)
		return walk_fail_plain(w, seen[TK_MTU].value,
				       "tun.mtu: %u is below 1280, the IPv6 minimum, and "
				       "tun.address6 is set", t->mtu);
	return 0;
}

static const struct walk_key tun_keys[] = {
	[TK_NAME] = K_FN("name", struct config_tun, name, config_walk_ifname),
	[TK_ADDRESS] = K_FN("address", struct config_tun, address, config_walk_tun_address),
	[TK_ADDRESS6] = K_FN("address6", struct config_tun, address6, config_walk_tun_address),
	[TK_MTU] = K_UINT("mtu", struct config_tun, mtu, 576, 65535, 0),
	[TK_AUTO_ROUTE] = K_BOOL("auto-route", struct config_tun, auto_route),
	[TK_UIDS] = K_LIST("uids", struct config_tun, uids, config_item_uint, 0, 4294967294LL),
	[TK_EXCLUDE_UIDS] = K_LIST("exclude-uids", struct config_tun, exclude_uids,
				   config_item_uint, 0, 4294967294LL),
	K_UINT("udp-timeout", struct config_tun, udp_timeout, 1, 3600, 0),
	K_UINT("udp-max-flows", struct config_tun, udp_max_flows, 1, 65536, 0),
};
const struct walk_table config_tun_table = TABLE(tun_keys, tun_check);

static const char *const redirect_method_names[] = { "redirect", "tproxy", NULL };

static const struct walk_key redirect_keys[] = {
	K_FN("listen", struct config_redirect, listen, config_walk_redirect_listen),
	K_BOOL("install-rules", struct config_redirect, install_rules),
	K_ENUM("method", struct config_redirect, method, redirect_method_names),
	K_LIST("uids", struct config_redirect, uids, config_item_uint, 0, 4294967294LL),
	K_LIST("exclude-uids", struct config_redirect, exclude_uids, config_item_uint, 0,
	       4294967294LL),
};
const struct walk_table config_redirect_table = TABLE(redirect_keys, NULL);

enum { GK_ENABLE, GK_LAN };

static int gateway_check(struct walk *w, const struct walk_seen *seen, bool present,
			 yaml_mark_t owner, void *base)
{
	const struct config_gateway *g = base;

	(void)present;
	(void)owner;
	/* At the (empty) list, or at `enable: true` when there is none. */
	if (g->enable && g->lan.n == 0)
		return walk_fail_plain(w, seen[seen[GK_LAN].seen ? GK_LAN : GK_ENABLE].value,
				       "gateway.lan: at least one CIDR is needed while "
				       "gateway.enable is true");
	return 0;
}

static const struct walk_key gateway_keys[] = {
	[GK_ENABLE] = K_BOOL("enable", struct config_gateway, enable),
	[GK_LAN] = K_LIST("lan", struct config_gateway, lan, config_item_cidr, 0, 0),
};
const struct walk_table config_gateway_table = TABLE(gateway_keys, gateway_check);
