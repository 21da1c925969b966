/* The IDX reader, plain and gzipped (a gzip magic at the start selects zlib). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".idx");
    eng_tensor *t = NULL;
    if (eng_idx_read(path, &t) == ENG_OK)
        eng_tensor_release(t);
    unlink(path);
    return 0;
}
