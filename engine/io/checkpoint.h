/* HDF5 checkpoints: a model's parameters, an optimizer's state, the random generators and a
 * table of user metadata in one file that h5py reads with no engine code. Layout (DESIGN.md,
 * "HDF5 formats"):
 *
 *   /                        attrs format="engine-checkpoint", version=2, engine_version, created
 *   /model                   attrs dtype, layer_names, model_config (JSON, architecture.c);
 *                            one group per layer in order, attr kind
 *   /model/<layer>/<param>   datasets, e.g. /model/conv2d_1/weight [16,1,5,5]
 *   /optimizer               attrs kind, steps, param_names, slot_names, each hyper-parameter
 *   /optimizer/<layer>/<param>/<slot>   datasets (only the slots that exist)
 *   /rng/global              [4] uint64, the global generator; /rng/layers/<layer> likewise
 *   /meta                    attrs step, epoch and the user's values; nested tables as groups
 *
 * Writing is atomic: everything goes to "<path>.tmp", which eng_checkpoint_commit closes,
 * fsyncs and renames over path before fsyncing the directory, so path always holds a complete
 * checkpoint, the old or the new one.
 *
 * Version 2 holds nothing HDF5 leaves unchecksummed: strings are fixed-length (no global heap),
 * every dataset carries "crc32" (its data) and every object "attrs_crc32" (its attributes'
 * names and values, hdf5_util.h). eng_checkpoint_open audits the whole file (links, storage,
 * types, depth, counts, bytes, checksums: eng_h5_audit) before parsing anything in it. Every
 * file also starts with the engine header (its length and CRC-32, hdf5_util.h), checked before
 * HDF5 reads it. Loading checks the format, the version, every layer name and kind, every shape
 * and dtype, and names the first mismatch; it changes nothing unless everything fits. */
#ifndef ENGINE_IO_CHECKPOINT_H
#define ENGINE_IO_CHECKPOINT_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stdint.h>

#include "../model.h"
#include "../model_container.h"
#include "../optim/optim.h"
#include "../optim/schedule.h"
#include "../registry.h"
#include "../rng.h"

#define ENG_CHECKPOINT_FORMAT "engine-checkpoint"
/* 2: the model config is JSON (model_config) checked against the kinds' declared settings;
 * nothing HDF5 leaves unchecksummed (fixed-length strings, the engine header, attrs_crc32 on
 * every object, crc32 on every dataset). Version 1 files are refused with a message saying so. */
#define ENG_CHECKPOINT_VERSION 2
/* The most layers a model_config may list. */
#define ENG_MODEL_CONFIG_MAX_LAYERS 4096
/* The deepest /meta table a checkpoint holds (the root table is depth 0). */
#define ENG_META_MAX_DEPTH 16

/* ---- metadata: a tree of named values (the /meta group) ---- */

typedef enum eng_meta_type {
    ENG_META_INTEGER, /* int64 attribute */
    ENG_META_NUMBER,  /* float64 attribute */
    ENG_META_BOOLEAN, /* h5py's boolean enum */
    ENG_META_STRING,  /* fixed-length UTF-8 string */
    ENG_META_NUMBERS, /* 1-D float64 attribute: a list of numbers */
    ENG_META_TABLE,   /* a subgroup */
} eng_meta_type;

typedef struct eng_meta eng_meta;
struct eng_meta {
    char *key; /* NULL for the root table */
    eng_meta_type type;
    int64_t integer;
    double number;
    bool boolean;
    char *string;
    double *numbers; /* NUMBERS: count values */
    int64_t count;
    eng_meta **items; /* TABLE: nitems entries */
    int nitems, capacity;
};

/* A new empty table; [out] *out owned by the caller (eng_meta_free). */
ENG_MUST_CHECK eng_status eng_meta_new(eng_meta **out);
/* Adds an entry to table t (a key may appear once; it may not be empty or hold '/'). Strings and
 * number lists are copied. [out] *out [optional]: the entry, owned by t. */
ENG_MUST_CHECK eng_status eng_meta_add(eng_meta *t, const char *key, eng_meta_type type,
                                       eng_meta **out);
ENG_MUST_CHECK eng_status eng_meta_add_integer(eng_meta *t, const char *key, int64_t value);
ENG_MUST_CHECK eng_status eng_meta_add_number(eng_meta *t, const char *key, double value);
ENG_MUST_CHECK eng_status eng_meta_add_boolean(eng_meta *t, const char *key, bool value);
ENG_MUST_CHECK eng_status eng_meta_add_string(eng_meta *t, const char *key, const char *value);
ENG_MUST_CHECK eng_status eng_meta_add_numbers(eng_meta *t, const char *key, const double *values,
                                               int64_t n);
/* The entry of t named key, or NULL. */
const eng_meta *eng_meta_get(const eng_meta *t, const char *key);
/* Frees the tree. NULL accepted. */
void eng_meta_free(eng_meta *m);

/* ---- checkpoints ---- */

typedef struct eng_checkpoint eng_checkpoint;

/* Starts writing a checkpoint to "<path>.tmp" (root attributes only). A directory at path, or
 * a path that cannot be created, is an ENG_EIO error naming it. [out] *out: finish with
 * eng_checkpoint_commit, or eng_checkpoint_close to discard. */
ENG_MUST_CHECK eng_status eng_checkpoint_create(const char *path, eng_checkpoint **out);
/* /model: every layer's group, configuration and parameters. Layer names must be valid HDF5
 * link names (no '/', not "." ). */
ENG_MUST_CHECK eng_status eng_checkpoint_write_model(eng_checkpoint *ck, const eng_model *model);
/* /optimizer: kind, steps, hyper-parameters and every existing slot. */
ENG_MUST_CHECK eng_status eng_checkpoint_write_optimizer(eng_checkpoint *ck,
                                                         const eng_optimizer *opt);
/* /rng: the state of rng (usually eng_rng_global()) and of every layer of model [optional]
 * that has its own generator. */
ENG_MUST_CHECK eng_status eng_checkpoint_write_rng(eng_checkpoint *ck, const eng_rng *rng,
                                                   const eng_model *model);
/* /meta from a table (eng_meta_new). */
ENG_MUST_CHECK eng_status eng_checkpoint_write_meta(eng_checkpoint *ck, const eng_meta *meta);
/* Closes, fsyncs and renames the file over its path, fsyncs the directory; frees ck in every
 * case (on failure the temporary file is removed and path is untouched). */
ENG_MUST_CHECK eng_status eng_checkpoint_commit(eng_checkpoint *ck);

/* Opens a checkpoint for reading and checks its format and version attributes. The layer list
 * (names and configurations) is read here. [out] *out: free with eng_checkpoint_close. */
ENG_MUST_CHECK eng_status eng_checkpoint_open(const char *path, eng_checkpoint **out);
/* Frees ck; a checkpoint being written is discarded. NULL accepted. */
void eng_checkpoint_close(eng_checkpoint *ck);

/* What an open checkpoint holds. Strings belong to ck. */
const char *eng_checkpoint_path(const eng_checkpoint *ck);
const char *eng_checkpoint_engine_version(const eng_checkpoint *ck);
const char *eng_checkpoint_created(const eng_checkpoint *ck);
bool eng_checkpoint_has_model(const eng_checkpoint *ck);
bool eng_checkpoint_has_optimizer(const eng_checkpoint *ck);
/* The model's dtype ("f32"/"f64"), its layers' names (in order) and the model_config JSON
 * text (architecture.c). */
const char *eng_checkpoint_model_dtype(const eng_checkpoint *ck);
int eng_checkpoint_layer_count(const eng_checkpoint *ck);
const char *eng_checkpoint_layer_name(const eng_checkpoint *ck, int i);
const char *eng_checkpoint_model_config(const eng_checkpoint *ck);

/* A new layer i of the checkpoint's model (named, in the model's dtype, parameters freshly
 * initialised): its config is parsed and checked against its kind's declared settings, and
 * the parameter shapes those settings give against the datasets stored in the file, before
 * anything is allocated. A plugin's kind must be loaded first. [out] *out owned by caller. */
ENG_MUST_CHECK eng_status eng_checkpoint_new_layer(eng_checkpoint *ck, int i, eng_layer **out);
/* Builds the model a checkpoint holds from the file alone, without Lua: every layer as
 * eng_checkpoint_new_layer makes it, then the stored parameters (and layer generators) as
 * eng_checkpoint_read_model reads them. [out] *out owned by the caller (eng_model_release). */
ENG_MUST_CHECK eng_status eng_checkpoint_load_model(const char *path, eng_model **out);

/* Copies the stored parameters into model after checking that the layers (count, names,
 * kinds) and every parameter (presence, dtype, shape) match; the model changes only when all
 * do. The layers' own generators are restored too when the file has them. */
ENG_MUST_CHECK eng_status eng_checkpoint_read_model(eng_checkpoint *ck, eng_model *model);
/* Restores opt's slots, step count and learning rate after checking the kind, the parameter
 * names, every slot's dtype and shape, and that the other hyper-parameters equal opt's (a
 * different momentum would not resume the same run). All or nothing. */
ENG_MUST_CHECK eng_status eng_checkpoint_read_optimizer(eng_checkpoint *ck, eng_optimizer *opt);
/* Restores rng from /rng/global. */
ENG_MUST_CHECK eng_status eng_checkpoint_read_rng(eng_checkpoint *ck, eng_rng *rng);
/* The /meta tree (an empty table when the file has none). [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_checkpoint_read_meta(eng_checkpoint *ck, eng_meta **out);
/* The scalar attributes of /optimizer (kind, steps, the hyper-parameters) as a table.
 * [out] *out owned by the caller. */
ENG_MUST_CHECK eng_status eng_checkpoint_read_optimizer_info(eng_checkpoint *ck, eng_meta **out);

/* ---- the model config (architecture.c) ---- */

/* One layer of a parsed model config: its name and its checked, finished settings; for a
 * container (model_container.h), its models: nchildren lists of layer specs, list k holding
 * child_sizes[k] entries, one after the other in children. */
typedef struct eng_layer_spec {
    char name[ENG_NAME_MAX];
    eng_settings settings;
    int nchildren;
    int child_sizes[ENG_CONTAINER_MAX_CHILDREN];
    struct eng_layer_spec *children; /* malloc'ed; NULL when nchildren is 0 */
} eng_layer_spec;

/* Frees n specs and their children (recursively). NULL accepted. */
void eng_layer_specs_free(eng_layer_spec *specs, int n);

/* The layer's config as a JSON object: {"kind": "linear", "in_features": 3, ...}, every
 * declared setting present. [out] *out malloc'ed. */
ENG_MUST_CHECK eng_status eng_layer_config(const eng_layer *layer, char **out);
/* The model's config: {"kind": "sequential", "dtype": "f32", "layers": [{"name": "linear_1",
 * "config": {...}}, ...]}; a container's entry has "children" beside "config": one list of
 * such entries per model it holds. [out] *out malloc'ed. */
ENG_MUST_CHECK eng_status eng_model_config(const eng_model *model, char **out);
/* Parses a model config: every kind must be registered and every value pass its kind's
 * declaration (unknown settings, wrong types, non-integers and out-of-bounds values are
 * refused naming where, the layer, the setting and the value). Nothing is built.
 * [out] *dtype, *specs (malloc'ed, *n entries). */
ENG_MUST_CHECK eng_status eng_model_config_parse(const char *json, const char *where,
                                                 eng_dtype *dtype, eng_layer_spec **specs, int *n);

/* Learning-rate schedules in a checkpoint (io/schedule_meta.c). */
/* Adds a table "schedule" to t (a checkpoint's meta): kind (PyTorch's class name), the
 * settings, and the counters base_lr, last_epoch, last_lr that a resumed run needs. */
ENG_MUST_CHECK eng_status eng_schedule_save_meta(const eng_schedule *s, eng_meta *t);

/* Restores base_lr, last_epoch and last_lr from the table "schedule" of t. s must be of the
 * same kind with the same settings (made the same way as the saved one); otherwise, or when
 * the table is missing or malformed, ENG_EFORMAT naming the field, and s is unchanged.
 * Restore the optimizer (its lr) from the same checkpoint: the next step reads both. */
ENG_MUST_CHECK eng_status eng_schedule_load_meta(eng_schedule *s, const eng_meta *t);

#pragma GCC visibility pop

#endif
