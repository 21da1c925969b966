/* The sweep results reader (the file a restarted sweep reads). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    fuzz_fix_header(path, data, size);
    eng_meta *runs = NULL;
    if (eng_results_read(path, &runs) == ENG_OK)
        eng_meta_free(runs);
    unlink(path);
    return 0;
}
