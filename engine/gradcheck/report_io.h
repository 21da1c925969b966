/* Saved gradient-check reports. A saved report is a checkpoint (io/checkpoint.h) of the model
 * whose /meta/gradcheck table holds what the check was computed from (the batch, the target,
 * the criterion, the options) and what it found (each tensor's verdict, diagnosis, step and
 * worst elements); eng_gc_replay runs the same check again from the file alone, and the
 * verdicts can be compared. gradcheck's report:save and gradcheck.replay in Lua are these.
 *
 * /meta/gradcheck (the format the Lua binding wrote before this moved into C, unchanged):
 *   mode, verdict, dtype    strings: the report's ("element-wise", "PASS", "f64")
 *   loss                    number
 *   x, x_shape, x_dtype     the batch: its values in row-major order, shape and dtype
 *   criterion               [optional] the loss: its constructor's name ("CrossEntropyLoss",
 *                           "NLLLoss", "HuberLoss", a plugin loss's), or "lua" for a criterion
 *                           written in Lua (which a file cannot hold: the replay needs it
 *                           given, eng_gc_replay_with)
 *   criterion_settings      [optional] table: the loss's settings, one entry per setting its
 *                           kind declares (reduction, ignore_index; delta); absent (files saved
 *                           before they were stored, losses without settings): the defaults
 *   y, y_shape, y_dtype     [with criterion] the target
 *   options                 table of the options given: samples, seed, step, rtol, nsigma,
 *                           worst, only, input, mode ("element", "directional"), directions;
 *                           since the C writer also exclude, full, localise (false only) and
 *                           loss_scale (when not 1). Only options that differ from their
 *                           defaults are written; an unknown one is refused.
 *   tensors/<name>          verdict, diagnosis ("" for none), step, and the worst elements as
 *                           lists numerical, analytic, error and index (their 1-based
 *                           coordinates, one after the other)
 * Lists are float64 attributes, an empty list an empty group. /meta also holds step = 0 and
 * epoch = 0, and /rng the global generator, as engine.save writes them. */
#ifndef ENGINE_GRADCHECK_REPORT_IO_H
#define ENGINE_GRADCHECK_REPORT_IO_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include "../io/checkpoint.h"
#include "gradcheck.h"

#define ENG_GC_CRITERION_MAX 32
#define ENG_GC_CRITERION_LUA "lua"      /* spec.criterion of a criterion written in Lua */
#define ENG_GC_DIRECTIONS_MAX (1 << 20) /* directions a saved directional check may ask for */

/* What a check is computed from. */
typedef struct eng_gc_check_spec {
    eng_model *model;
    eng_tensor *x;                        /* the batch */
    eng_tensor *y;                        /* [optional] the target (NULL: layer-wise) */
    char criterion[ENG_GC_CRITERION_MAX]; /* a loss kind's constructor name
                                             ("CrossEntropyLoss", "HuberLoss"), "lua"
                                             (ENG_GC_CRITERION_LUA); "" for none */
    eng_settings criterion_settings;      /* [optional] the criterion's settings (from
                                             eng_loss_settings_init, set and finished);
                                             zeroed: the kind's defaults */
    eng_gc_options options;               /* every field saved */
    double loss_scale;                    /* the criterion times this (0 or 1: unscaled) */
    bool input;                           /* the model's input was checked too */
    bool directional;                     /* eng_gc_check_directions, else eng_gc_check */
    int directions;                       /* directional: its k (Lua's default 16) */
} eng_gc_check_spec;

/* One tensor's stored results. */
typedef struct eng_gc_saved_tensor {
    char name[ENG_PARAM_NAME_MAX];
    eng_gc_verdict verdict;
    char diagnosis[512];
    double step;
    int nworst, ndim;                     /* worst elements; coordinates per element */
    double *numerical, *analytic, *error; /* [nworst] */
    int64_t *index;                       /* [nworst, ndim] 0-based coordinates */
} eng_gc_saved_tensor;

/* A report read back from a file. */
typedef struct eng_gc_saved_report {
    eng_gc_check_spec spec; /* model, x, y owned here (the model borrowed when one was given) */
    char mode[32];          /* the stored report's: "element-wise", "directional", "layer-wise" */
    eng_gc_verdict verdict;
    eng_dtype dtype;
    double loss;
    int ntensors;
    eng_gc_saved_tensor *tensors;
    char *path;
    eng_meta *meta;         /* the file's /meta tree */
    const eng_meta *stored; /* its gradcheck table, as stored */
    bool owns_model;
    char *only, *exclude; /* spec.options.only's and exclude's storage */
} eng_gc_saved_report;

/* Saves report (computed from spec; mode "layer-wise" for eng_gc_check_layers) to path, an
 * HDF5 checkpoint written atomically. spec->model and spec->x are required. */
ENG_MUST_CHECK eng_status eng_gc_report_save(const char *path, const eng_gc_check_spec *spec,
                                             const eng_gc_report *report);
/* Reads a saved report. The model is rebuilt from the file, or, when model [optional] is
 * given (a model of the same architecture, for layers the library cannot build), the file's
 * weights are loaded into it. Every field is checked; errors name the file and the field.
 * [out] *out owned by the caller (eng_gc_saved_report_free). */
ENG_MUST_CHECK eng_status eng_gc_report_load(const char *path, eng_model *model,
                                             eng_gc_saved_report **out);
/* Runs the saved check again on the saved model and batch with the saved options: the new
 * report agrees with the stored one when (*out)->verdict == saved->verdict. The model's
 * parameters are perturbed and restored. [out] *out owned by the caller (eng_gc_report_free). */
ENG_MUST_CHECK eng_status eng_gc_replay(eng_gc_saved_report *saved, eng_gc_report **out);
/* eng_gc_replay with criterion [optional] in place of the saved one: required when the check's
 * criterion was written in Lua (spec.criterion "lua"), which a file cannot hold. The saved
 * loss_scale still applies. */
ENG_MUST_CHECK eng_status eng_gc_replay_with(eng_gc_saved_report *saved, eng_loss *criterion,
                                             eng_gc_report **out);
/* Frees saved, its tensors and its model (unless borrowed). NULL accepted. */
void eng_gc_saved_report_free(eng_gc_saved_report *saved);

#pragma GCC visibility pop

#endif
