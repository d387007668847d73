/* fuzz_http.c -- libFuzzer target for the HTTP CONNECT proxy (proxy/http.c), through the
 * shared handshake harness in proxy_handshake.h. */
#include "tests/fuzz/proxy_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_proxy_handshake(&proxy_http_ops, PROXY_TYPE_HTTP, 3128, data, size);
}
