/* Shared by the libFuzzer harnesses (fuzz/README.md): the readers take paths, so each input
 * goes to a scratch file first. */
#ifndef ENGINE_FUZZ_COMMON_H
#define ENGINE_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "io/hdf5_util.h"
#include "io/results.h"

/* Writes data to a scratch file of this process and returns its path (static buffer). */
__attribute__((unused)) static const char *fuzz_file(const uint8_t *data, size_t size,
                                                     const char *suffix)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/engine-fuzz-%d%s", (int)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    return path;
}

/* The engine's HDF5 files carry a CRC-32 of themselves in their header, which nearly every
 * mutation breaks: refused before HDF5 reads a byte. So that mutations reach HDF5 and the
 * audit too, the header is rewritten over the mutated bytes unless byte 12 (reserved, 0 in
 * the seeds) is set, which keeps the header as mutated. */
__attribute__((unused)) static void fuzz_fix_header(const char *path, const uint8_t *data,
                                                    size_t size)
{
    if (size >= ENG_H5_HEADER_SIZE &&
        memcmp(data,
               "\x89"
               "ENG\r\n\x1a\n",
               8) == 0 &&
        data[12] == 0 && eng_h5_header_rewrite(path) != ENG_OK) {
        /* an input the header cannot be rewritten for is fuzzed as it is */
    }
}

/* HDF5 keeps freed blocks on free lists and hands them out again, so the one HDF5 leak that
 * lsan.supp suppresses (an object header H5O_protect loads) would be reported with the stack of
 * the block's first use: the writing of a file by fuzz_report (its JSON inputs) or fuzz_results
 * (its append), not suppressed. Without the free lists of fixed-size objects (H5FL_reg, where
 * object headers come from) every such block has its own stack; the block and array lists stay,
 * since without them every HDF5 buffer is a malloc unwound in full (inputs then took 10 s). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (H5set_free_list_limits(0, 0, -1, -1, -1, -1) < 0)
        abort();
    return 0;
}

#endif
