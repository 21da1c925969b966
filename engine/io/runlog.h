/* A training run's log (engine.train): per-step and per-epoch metrics in one HDF5 file, in the
 * checkpoint meta layout so that h5py reads it with no engine code.
 *
 *   /      attrs format="engine-runlog", version=1
 *   /log   the run's table: settings {...}, steps {step=, epoch=, loss=, lr=, ...} and
 *          epochs {epoch=, loss=, accuracy=, val_loss=, val_accuracy=, lr=, seconds=, ...},
 *          each metric a 1-D float64 attribute (h5py: f["log/steps"].attrs["loss"])
 *
 * Written whole through a temporary file renamed over the old one (after every epoch), so a
 * run killed at any moment leaves the previous complete log. */
#ifndef ENGINE_IO_RUNLOG_H
#define ENGINE_IO_RUNLOG_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "checkpoint.h"

#define ENG_RUNLOG_FORMAT "engine-runlog"

/* Writes log (a table) to path, replacing it atomically. */
ENG_MUST_CHECK eng_status eng_runlog_write(const char *path, const eng_meta *log);
/* The table written by eng_runlog_write. [out] *out owned by the caller. Errors name the file
 * and what is wrong (not a run log, a missing /log). */
ENG_MUST_CHECK eng_status eng_runlog_read(const char *path, eng_meta **out);

#pragma GCC visibility pop

#endif
