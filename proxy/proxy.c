/* proxy.c -- maps a configured proxy type to its ops table. */
#include "proxy/proxy.h"

#include "base/config.h"

const struct proxy_ops *proxy_ops_for(const struct config_proxy *cfg)
{
	static const struct proxy_ops *const table[] = {
		[PROXY_TYPE_SS] = &proxy_ss_ops,
		[PROXY_TYPE_HTTP] = &proxy_http_ops,
		[PROXY_TYPE_SOCKS5] = &proxy_socks5_ops,
		[PROXY_TYPE_DIRECT] = &proxy_direct_ops,
		[PROXY_TYPE_HTTPS] = &proxy_https_ops,
	};
	return table[cfg->type];
}
