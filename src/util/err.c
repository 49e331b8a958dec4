/* err.c - strings for enum qr_err, generated from the table in err.h. */
#include "util/err.h"

static const char *const messages[] = {
#define QR_ERR_MSG(name, msg) msg,
    QR_ERR_MAP(QR_ERR_MSG)
#undef QR_ERR_MSG
};

static const char *const names[] = {
#define QR_ERR_NAME(name, msg) #name,
    QR_ERR_MAP(QR_ERR_NAME)
#undef QR_ERR_NAME
};

const char *qr_strerror(enum qr_err err)
{
    if ((unsigned)err >= QR_ERR__COUNT)
        return "unknown error";
    return messages[err];
}

const char *qr_errname(enum qr_err err)
{
    if ((unsigned)err >= QR_ERR__COUNT)
        return "E_UNKNOWN";
    return names[err];
}
