/* Internal to engine/io: opening a results file (results_open.c) for results.c. */
#ifndef ENGINE_IO_RESULTS_IMPL_H
#define ENGINE_IO_RESULTS_IMPL_H

#include <hdf5.h>

#include "results.h"

/* Opens an existing results file of format 2 or 1 after checking it (header, version, audit,
 * format). [out] *file (closed on failure), *info. */
ENG_MUST_CHECK eng_status eng_results_open(const char *path, hid_t *file, eng_results_info *info);

#endif
