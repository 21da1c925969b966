/* Error codes and the per-thread message buffer.
 *
 * The library never exits and never calls Lua: a fallible function returns an eng_status and
 * leaves a message for eng_errmsg(), as SQLite does with sqlite3_errmsg(). */
#ifndef ENGINE_ERROR_H
#define ENGINE_ERROR_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

/* On every function that returns an eng_status (except eng_error, which returns the code
 * it was given): a result that is not looked at is a compile error (-Werror=unused-result). */
#define ENG_MUST_CHECK __attribute__((warn_unused_result))

typedef enum eng_status {
    ENG_OK = 0,
    ENG_ESHAPE,     /* tensor shapes do not fit the operation */
    ENG_EDTYPE,     /* dtype mismatch or unsupported dtype */
    ENG_EARG,       /* bad argument value (negative size, unknown name, ...) */
    ENG_ENOMEM,     /* allocation failed */
    ENG_EIO,        /* file could not be opened, read or written */
    ENG_EFORMAT,    /* file content is not what it claims to be */
    ENG_ESTATE,     /* call made in the wrong state (backward before forward, ...) */
    ENG_ENONFINITE, /* a NaN or infinite value where finite ones are needed (training) */
} eng_status;

/* The status' name, "ENG_ESHAPE" for example. Never NULL. */
const char *eng_status_to_string(eng_status status);

/* Formats the message (printf-style) into this thread's buffer and returns status unchanged,
 * so that a failing path reads `return eng_error(ENG_ESHAPE, "...", ...);`. */
eng_status eng_error(eng_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message: "<prefix>: <message>" and returns status. */
eng_status eng_error_wrap(eng_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last message set on this thread; "" when none. Valid until the next eng_error(). */
const char *eng_errmsg(void);

void eng_error_clear(void);

#pragma GCC visibility pop

#endif
