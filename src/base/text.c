#include "base/text.h"

#include <stdbool.h>

#include "base/assert.h"

static const char hex_digits[] = "0123456789abcdef";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
hex_encode(const uint8_t *data, size_t size, char *out)
{
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = hex_digits[data[i] >> 4];
        out[2 * i + 1] = hex_digits[data[i] & 15];
    }
    out[2 * size] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

enum err
hex_decode(const char *text, size_t text_size, uint8_t *out, size_t out_max, size_t *out_size)
{
    if (text_size % 2 != 0) {
        return ERR_MALFORMED;
    }
    if (text_size / 2 > out_max) {
        return ERR_TOO_LARGE;
    }
    for (size_t i = 0; i < text_size / 2; i++) {
        int hi = hex_value(text[2 * i]);
        int lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return ERR_MALFORMED;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    *out_size = text_size / 2;
    return ERR_OK;
}

size_t
base64_encoded_size(size_t size)
{
    return (size + 2) / 3 * 4;
}

void
base64_encode(const uint8_t *data, size_t size, char *out)
{
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= size; i += 3) {
        uint32_t v = ((uint32_t)data[i] << 16) | ((uint32_t)data[i + 1] << 8) | data[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (size - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (size - i == 2) {
        uint32_t v = ((uint32_t)data[i] << 16) | ((uint32_t)data[i + 1] << 8);
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    ASSERT(o == base64_encoded_size(size));
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

enum err
base64_decode(const char *text, size_t text_size, uint8_t *out, size_t out_max, size_t *out_size)
{
    if (text_size % 4 != 0) {
        return ERR_MALFORMED;
    }
    size_t pad = 0;
    if (text_size > 0 && text[text_size - 1] == '=') {
        pad = (text_size > 1 && text[text_size - 2] == '=') ? 2 : 1;
    }
    size_t size = text_size / 4 * 3 - pad;
    if (size > out_max) {
        return ERR_TOO_LARGE;
    }
    size_t o = 0;
    for (size_t i = 0; i < text_size; i += 4) {
        bool last = i + 4 == text_size;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = b64_value(text[i + j]);
            bool is_pad = last && j >= 4 - pad;
            if (is_pad) {
                d = 0;
            } else if (d < 0) {
                return ERR_MALFORMED;
            }
            v = (v << 6) | (uint32_t)d;
        }
        /* Canonical: the unused bits before padding must be zero. */
        if (last && ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))) {
            return ERR_MALFORMED;
        }
        const uint8_t bytes[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        for (size_t j = 0; j < 3 && o < size; j++) {
            out[o++] = bytes[j];
        }
    }
    *out_size = size;
    return ERR_OK;
}
