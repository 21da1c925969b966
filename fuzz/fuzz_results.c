/* The sweep results reader (the file a restarted sweep reads), both formats: format 2, and the
 * older format 1 files (seeds legacy_*.h5, with variable-length strings checked against the
 * global heap), then the append that rewrites what was read in format 2. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    fuzz_fix_header(path, data, size);
    eng_meta *runs = NULL, *run = NULL;
    if (eng_results_read(path, &runs) == ENG_OK) {
        eng_meta_free(runs);
        if (eng_meta_new(&run) == ENG_OK && eng_results_append(path, "fuzz", run) == ENG_OK &&
            eng_results_read(path, &runs) == ENG_OK)
            eng_meta_free(runs);
        eng_meta_free(run);
    }
    unlink(path);
    return 0;
}
