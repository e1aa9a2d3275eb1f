#include "base/err.h"

#include <errno.h>

const char *
err_str(enum err e)
{
    switch (e) {
#define ERR_TEXT_(name, value, code, text) \
    case name:                             \
        return text;
        ERR_MAP(ERR_TEXT_)
#undef ERR_TEXT_
    }
    return "unknown error";
}

const char *
err_name(enum err e)
{
    switch (e) {
#define ERR_CODE_(name, value, code, text) \
    case name:                             \
        return code;
        ERR_MAP(ERR_CODE_)
#undef ERR_CODE_
    }
    return "unknown";
}

enum err
err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return ERR_OK;
    case ENOSPC:
    case EDQUOT:
        return ERR_NO_SPACE;
    case ENOENT:
        return ERR_NOT_FOUND;
    case EEXIST:
        return ERR_EXISTS;
    case EACCES:
    case EPERM:
        return ERR_PERMISSION;
    case EAGAIN:
        return ERR_AGAIN;
    case ETIMEDOUT:
        return ERR_TIMEOUT;
    default:
        return ERR_IO;
    }
}
