/* The one error handler of every HDF5 call in the engine. HDF5's own printing of its error
 * stack is turned off; a failure becomes one line naming the file, what was being done and the
 * innermost cause found on HDF5's error stack: no such file, a directory, not an HDF5 file, a
 * truncated file, a file locked by another process (with the HDF5_USE_FILE_LOCKING hint), a
 * failed checksum, a missing object. */
#ifndef ENGINE_IO_HDF5_ERROR_H
#define ENGINE_IO_HDF5_ERROR_H

#include "../error.h"

/* Turns HDF5's automatic error printing off. Cheap and idempotent: every public entry point of
 * engine/io that calls HDF5 calls it first. */
void eng_h5_quiet(void);

/* Sets the message "<path>: <what>: <cause>" (what is printf-style), the cause read from the
 * current HDF5 error stack, which is then cleared. Returns status. */
ENG_MUST_CHECK eng_status eng_h5_error(eng_status status, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
