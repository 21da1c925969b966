/* IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/), plain or gzipped.
 *
 * Header: two zero bytes, a type code (0x08 = unsigned byte is the only one accepted), the
 * number of dimensions, then each size as a big-endian 32-bit integer; the data follow. */
#ifndef ENGINE_IO_IDX_H
#define ENGINE_IO_IDX_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../tensor.h"

/* Reads the whole file into a new u8 tensor of the header's shape. Errors name the file and
 * what is wrong (bad magic, truncated data, trailing bytes, gzip corruption).
 * [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_idx_read(const char *path, eng_tensor **out);

#pragma GCC visibility pop

#endif
