/* What checkpoint.c (writing) and checkpoint_read.c (reading) share: the open checkpoint and a
 * few helpers. Internal to engine/io. */
#ifndef ENGINE_IO_CHECKPOINT_IMPL_H
#define ENGINE_IO_CHECKPOINT_IMPL_H

#include "checkpoint.h"
#include "hdf5_util.h"

/* The most hyper-parameters an optimizer kind may report. */
#define MAX_HYPER 32

struct eng_checkpoint {
    eng_h5_writer w; /* writing: the temporary file */
    hid_t file;      /* the open file (w.file while writing) */
    char *path;
    char *engine_version, *created, *dtype;
    int nlayers;
    char **layer_names;
    char *model_config;    /* /model's JSON config, as stored */
    eng_layer_spec *specs; /* model_config parsed (nspecs entries), once a layer is built */
    int nspecs;
    bool has_model, has_optimizer;
};

/* A checkpoint with nothing open, for path. [out] *out. */
ENG_MUST_CHECK eng_status eng_checkpoint_new(const char *path, eng_checkpoint **out);
/* Whether name can name an HDF5 group: not empty, not ".", no '/'. */
bool eng_checkpoint_valid_name(const char *name);
/* Splits "<layer>.<param>" at its last dot into layer and param (each of size bytes). */
void eng_checkpoint_split_name(const char *full, char *layer, char *param, size_t size);

#endif
