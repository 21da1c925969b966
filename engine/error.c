#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char message[1024];

const char *eng_status_to_string(eng_status status)
{
    switch (status) {
    case ENG_OK: return "ENG_OK";
    case ENG_ESHAPE: return "ENG_ESHAPE";
    case ENG_EDTYPE: return "ENG_EDTYPE";
    case ENG_EARG: return "ENG_EARG";
    case ENG_ENOMEM: return "ENG_ENOMEM";
    case ENG_EIO: return "ENG_EIO";
    case ENG_EFORMAT: return "ENG_EFORMAT";
    case ENG_ESTATE: return "ENG_ESTATE";
    case ENG_ENONFINITE: return "ENG_ENONFINITE";
    }
    return "ENG_UNKNOWN";
}

eng_status eng_error(eng_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return status;
}

eng_status eng_error_wrap(eng_status status, const char *fmt, ...)
{
    char previous[sizeof message];
    memcpy(previous, message, sizeof message);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    /* ": " and as much of the previous message as fits; a long chain is cut, never unterminated */
    if (n >= 0 && (size_t)n + 2 < sizeof message) {
        size_t len = strnlen(previous, sizeof message - (size_t)n - 3);
        memcpy(message + n, ": ", 2);
        memcpy(message + n + 2, previous, len);
        message[(size_t)n + 2 + len] = '\0';
    }
    return status;
}

const char *eng_errmsg(void)
{
    return message;
}

void eng_error_clear(void)
{
    message[0] = '\0';
}
