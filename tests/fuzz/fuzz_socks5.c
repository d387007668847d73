/* fuzz_socks5.c -- libFuzzer target for the SOCKS5 proxy (proxy/socks5.c), through the
 * shared handshake harness in proxy_handshake.h. */
#include "tests/fuzz/proxy_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_proxy_handshake(&proxy_socks5_ops, PROXY_TYPE_SOCKS5, 1080, data, size);
}
