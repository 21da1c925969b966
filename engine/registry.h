/* The kind registry: every layer kind, built in or from a plugin, and the one declaration of
 * its settings (name, type, default, bounds) from which everything else derives: the Lua
 * constructor (nn.Linear(3, 2, {bias = false}), nn.new("linear", {...})), printing
 * ("Linear(3, 2, bias=false)"), the JSON config stored in checkpoints, and the validation of
 * values read back from a file (exactly as strict as the same values given as arguments).
 *
 * How a kind declares itself, in its own .c file (engine/layers/linear.c, shortened):
 *
 *     static const eng_setting linear_settings[] = {
 *         {"in_features", ENG_SETTING_INT, ENG_SETTING_REQUIRED | ENG_SETTING_POSITIONAL |
 *          ENG_SETTING_BARE, .min = 1, .max = ENG_SETTING_INT_MAX},
 *         {"out_features", ENG_SETTING_INT, ..., .min = 1, .max = ENG_SETTING_INT_MAX},
 *         {"bias", ENG_SETTING_BOOL, 0, .def = 1},
 *         {0},
 *     };
 *     static eng_status linear_create(const eng_settings *s, eng_dtype dtype, eng_rng *rng,
 *                                     eng_layer **out)
 *     {
 *         return eng_linear_new(eng_settings_int(s, "in_features"),
 *                               eng_settings_int(s, "out_features"),
 *                               eng_settings_bool(s, "bias"), dtype, rng, out);
 *     }
 *     static eng_status linear_describe(const eng_layer *layer, eng_settings *s)
 *     {   ... eng_settings_set_int(s, "in_features", l->in_features) ... }
 *     ENG_BUILTIN_KIND(linear) = {
 *         .name = "linear", .ctor = "Linear", .ops = &linear_ops, .settings = linear_settings,
 *         .takes_dtype = true, .create = linear_create, .describe = linear_describe,
 *         .param_shapes = linear_param_shapes,
 *     };
 *
 * ENG_BUILTIN_KIND(name) defines `const eng_layer_kind eng_kind_<name>`; the build finds every
 * such line in engine/layers/ (*.c) and lists it in the built-in table (CMakeLists.txt), so adding
 * a built-in kind touches only its own file. A plugin passes the same struct to
 * eng_plugin_register_layer (plugin.h).
 *
 * Setting names "kind", "name" and "dtype" are reserved (the layer's kind, its name, and the
 * parameters' dtype when takes_dtype is set). */
#ifndef ENGINE_REGISTRY_H
#define ENGINE_REGISTRY_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stdbool.h>
#include <stdint.h>

#include "layers/layer.h"

#define ENG_SETTINGS_MAX 16    /* settings per kind */
#define ENG_SETTING_INTS_MAX 8 /* elements of an int-list setting */
#define ENG_SETTING_INT_MAX 2147483647.0

typedef enum eng_setting_type {
    ENG_SETTING_INT,    /* an integer in [min, max] (max at most ENG_SETTING_INT_MAX) */
    ENG_SETTING_NUMBER, /* a finite number in [min, max] */
    ENG_SETTING_BOOL,   /* true or false (never a number) */
    ENG_SETTING_STRING, /* 1 to ENG_NAME_MAX-1 bytes; default def_string */
    ENG_SETTING_INTS,   /* len integers in [min, max] (len 0: 1 to ENG_SETTING_INTS_MAX); a
                         * lone integer n given for a fixed len means n repeated: 5 -> {5,5} */
} eng_setting_type;

enum {
    ENG_SETTING_REQUIRED = 1u << 0,   /* no default: must be given */
    ENG_SETTING_POSITIONAL = 1u << 1, /* the Lua constructor takes it positionally (in
                                       * declaration order), or by name in its options */
    ENG_SETTING_BARE = 1u << 2,       /* printed as a bare value: "Linear(3, 2)" */
    ENG_SETTING_SHOWN = 1u << 3,      /* printed as name=value even when it is the default
                                       * (other settings are printed only when not) */
};

typedef struct eng_setting {
    const char *name; /* "in_features": unique in its kind, a Lua identifier */
    eng_setting_type type;
    unsigned flags;         /* ENG_SETTING_* */
    double def;             /* default (every element of INTS; 0/1 for BOOL) */
    double min, max;        /* inclusive bounds of each number (INT, NUMBER, INTS) */
    int len;                /* INTS: the number of elements, 0 when it varies */
    const char *def_string; /* STRING: the default */
    const char *doc;        /* [optional] one line */
} eng_setting;

/* The value of one setting. */
typedef struct eng_setting_value {
    bool given;    /* set explicitly (else it holds the default after finish) */
    int n;         /* INTS: the number of elements */
    double number; /* INT, NUMBER, BOOL (0 or 1) */
    int64_t ints[ENG_SETTING_INTS_MAX];
    char string[ENG_NAME_MAX];
} eng_setting_value;

typedef struct eng_layer_kind eng_layer_kind;

/* A kind's settings with their values, in the order of its declaration. The declaration may
 * also be a loss kind's (loss/loss.h): then kind is NULL. */
typedef struct eng_settings {
    const eng_layer_kind *kind; /* NULL for a loss kind's settings */
    const char *name;           /* the kind's name, for messages: "linear", "huber" */
    const eng_setting *decl;    /* the declaration (kind->settings for a layer kind) */
    int count;
    eng_setting_value values[ENG_SETTINGS_MAX];
} eng_settings;

/* The shape of one parameter (or buffer) that a layer of given settings will have. */
typedef struct eng_param_shape {
    const char *name; /* "weight" */
    int ndim;
    int64_t shape[ENG_MAX_DIMS];
} eng_param_shape;

struct eng_layer_kind {
    const char *name;            /* "conv2d": unique among all kinds; equal to ops->kind */
    const char *ctor;            /* [optional] engine.nn's constructor: "Conv2d" */
    const eng_layer_ops *ops;    /* output_shape, forward, backward and clone required */
    const eng_setting *settings; /* [optional] ended by an entry with a NULL name */
    bool takes_dtype;            /* the layer has parameters, made in the dtype it is given */
    /* A new layer (refcount 1) from complete, checked settings (eng_settings_finish), with
     * parameters in dtype drawn from rng (NULL: the global generator). NULL for kinds that a
     * file cannot rebuild (Lua layers). */
    eng_status (*create)(const eng_settings *s, eng_dtype dtype, eng_rng *rng, eng_layer **out);
    /* Writes the layer's settings into s (initialised for this kind) with eng_settings_set_*;
     * what it leaves unset keeps its default. */
    eng_status (*describe)(const eng_layer *layer, eng_settings *s);
    /* [optional, required for kinds with parameters] The parameters (then the buffers) create
     * would make, without allocating them: the loader checks a file's stored shapes against
     * these before building anything. [out] out[ENG_MAX_PARAMS + ENG_MAX_BUFFERS], *n. */
    eng_status (*param_shapes)(const eng_settings *s, eng_param_shape *out, int *n);
    const char *doc; /* [optional] one line for listings */
};

/* Defines the built-in kind eng_kind_<name>; follow with "= { ... };". */
#define ENG_BUILTIN_KIND(name) const eng_layer_kind eng_kind_##name

/* ---- settings ---- */

/* s holds kind's settings, none given yet. */
void eng_settings_init(eng_settings *s, const eng_layer_kind *kind);
/* The same for any declaration decl [optional] (ended by a NULL name) of the kind called name
 * (a loss kind's). */
void eng_settings_init_decl(eng_settings *s, const char *name, const eng_setting *decl);
/* Checks a declaration of settings (names, types, bounds, defaults) for the kind called name:
 * what eng_kind_check checks of a layer kind's settings. */
ENG_MUST_CHECK eng_status eng_settings_check_decl(const char *name, const eng_setting *decl);
/* Sets a setting after checking it as its declaration says; a refusal names the kind, the
 * setting and the value: "linear: setting 'in_features' must be an integer, got 1.5".
 * set_number serves INT, NUMBER and INTS (a lone value); set_ints takes n numbers (they must
 * be integers); set_bool only BOOL, set_string only STRING. An unknown key is refused with
 * the list of the kind's settings. Setting a key twice is refused. */
ENG_MUST_CHECK eng_status eng_settings_set_number(eng_settings *s, const char *key, double value);
ENG_MUST_CHECK eng_status eng_settings_set_ints(eng_settings *s, const char *key,
                                                const double *values, int n);
ENG_MUST_CHECK eng_status eng_settings_set_bool(eng_settings *s, const char *key, bool value);
ENG_MUST_CHECK eng_status eng_settings_set_string(eng_settings *s, const char *key,
                                                  const char *value);
/* For describe functions: the same as set_number/set_ints with C integers. */
ENG_MUST_CHECK eng_status eng_settings_set_int(eng_settings *s, const char *key, int64_t value);
ENG_MUST_CHECK eng_status eng_settings_set_int_list(eng_settings *s, const char *key,
                                                    const int *values, int n);
/* Checks that every required setting was given and fills the others with their defaults. */
ENG_MUST_CHECK eng_status eng_settings_finish(eng_settings *s);
/* The declaration of key in s's kind (NULL when it has none) and its index there. */
const eng_setting *eng_settings_find(const eng_settings *s, const char *key, int *index);

/* Values of a finished s. Asking for a key the kind does not declare, or of another type, is
 * a programming error (assert). */
int eng_settings_int(const eng_settings *s, const char *key);
double eng_settings_number(const eng_settings *s, const char *key);
bool eng_settings_bool(const eng_settings *s, const char *key);
const char *eng_settings_string(const eng_settings *s, const char *key);
/* INTS: the number of elements; copies up to max of them into out. */
int eng_settings_ints(const eng_settings *s, const char *key, int *out, int max);

/* ---- the registry ---- */

/* Checks a kind's declaration (name, required slots, reserved or repeated setting names,
 * defaults within bounds) without registering it. */
ENG_MUST_CHECK eng_status eng_kind_check(const eng_layer_kind *kind);
/* Adds a kind (static storage: the registry keeps the pointer) after eng_kind_check and a
 * check that no kind, built in or registered, has its name. Plugins go through
 * eng_plugin_register_layer; the host registers its own kinds (the Lua layer) here. */
ENG_MUST_CHECK eng_status eng_kind_register(const eng_layer_kind *kind);
/* The kind called name, or NULL. */
const eng_layer_kind *eng_kind_find(const char *name);
/* The kind whose ops the layer uses (else the kind named ops->kind), or NULL. */
const eng_layer_kind *eng_kind_of(const eng_layer *layer);
/* All kinds, built-ins first: i in [0, eng_kind_count()). */
int eng_kind_count(void);
const eng_layer_kind *eng_kind_at(int i);

/* ---- layers from settings ---- */

/* The layer's settings (finished). A layer of an unregistered kind is an ENG_EARG error. */
ENG_MUST_CHECK eng_status eng_layer_settings(const eng_layer *layer, eng_settings *out);
/* A new layer from settings of a kind that can be created; finishes s first. */
ENG_MUST_CHECK eng_status eng_layer_create(eng_settings *s, eng_dtype dtype, eng_rng *rng,
                                           eng_layer **out);
/* The PyTorch-style description, "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1))", built
 * from the declaration: the constructor name (the kind when none), BARE settings as values,
 * then SHOWN settings and those that differ from their defaults as name=value. snprintf
 * semantics: the length it needed. */
int eng_layer_repr(const eng_layer *layer, char *buf, size_t size);
/* The same description of finished settings s of any kind (a loss kind's too) under the
 * constructor name ctor: "HuberLoss(delta=0.5)", "NLLLoss(reduction=sum)". */
int eng_settings_repr(const eng_settings *s, const char *ctor, char *buf, size_t size);

#pragma GCC visibility pop

#endif
