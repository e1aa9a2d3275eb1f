/* config.ini decoding (node/config.c over inih): any bytes either decode into a config that
 * passes the same checks again, or are refused with a message naming where; never a crash,
 * a leak or an unterminated message. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "node/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct config c;
    char error[CONFIG_ERROR_MAX];
    enum err rc = config_decode("fuzz.ini", (const char *)data, size, &c, error);
    if (rc != ERR_OK) {
        ASSERT(memchr(error, '\0', sizeof error) != NULL);
        ASSERT(strncmp(error, "fuzz.ini", 8) == 0);
        return 0;
    }
    ASSERT(c.peer_count <= CONFIG_PEERS_MAX);
    ASSERT((c.passphrase_file[0] != '\0') != (c.passphrase_env[0] != '\0'));
    ASSERT(config_address_is_valid(c.api_listen));
    ASSERT(config_address_is_valid(c.p2p_listen));
    for (size_t i = 0; i < c.peer_count; i++) {
        ASSERT(config_address_is_valid(c.peers[i].address));
    }
    return 0;
}
