/* The saved gradient-check report reader (eng_gc_report_load: the checkpoint, then every field
 * of /meta/gradcheck) and the replay of what it read (eng_gc_replay), as gradcheck.replay. */
#include "fuzz_common.h"
#include "gradcheck/report_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".h5");
    fuzz_fix_header(path, data, size);
    eng_gc_saved_report *saved = NULL;
    if (eng_gc_report_load(path, NULL, &saved) == ENG_OK) {
        eng_gc_report *r = NULL;
        if (eng_gc_replay(saved, &r) == ENG_OK)
            eng_gc_report_free(r);
        eng_gc_saved_report_free(saved);
    }
    unlink(path);
    return 0;
}
