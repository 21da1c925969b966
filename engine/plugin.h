/* The plugin ABI: user layers (and optimizers) in C shared libraries.
 *
 * A plugin is a shared library that exports two symbols:
 *
 *     ENG_PLUGIN_DECLARE_ABI("my_plugin");                 // data: eng_plugin_abi
 *     eng_status engine_plugin_init(eng_plugin_registry *registry) { ... register kinds ... }
 *
 * The loader checks engine_plugin_abi before calling anything: a plugin built against another
 * ABI version, or with another eng_layer_ops layout, is refused. A plugin may also export
 * luaopen_<name> (Lua's convention), which the Lua binding calls to give the plugin's own Lua
 * helpers. Plugins link against nothing of the engine: its symbols (and Lua's) come from the
 * host that loads them. */
#ifndef ENGINE_PLUGIN_H
#define ENGINE_PLUGIN_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

#include <stddef.h>
#include <stdint.h>

#include "layers/layer.h"
#include "optim/optim.h"
#include "registry.h"

#define ENG_PLUGIN_ABI_VERSION                                                                     \
    3 /* 2: layer kinds declare their settings (registry.h); 3:                                    \
       * eng_layer.params and .buffers are pointers (containers) */

typedef struct eng_plugin_abi {
    uint32_t abi_version;    /* ENG_PLUGIN_ABI_VERSION when the plugin was built */
    uint32_t layer_ops_size; /* sizeof(eng_layer_ops) then */
    uint32_t optimizer_size; /* sizeof(eng_optimizer) then */
    const char *name;        /* the plugin's name, for messages and luaopen_<name> */
} eng_plugin_abi;

/* Exported by every plugin, at file scope. */
#define ENG_PLUGIN_DECLARE_ABI(plugin_name)                                                        \
    __attribute__((visibility("default"))) const eng_plugin_abi engine_plugin_abi = {              \
        ENG_PLUGIN_ABI_VERSION, sizeof(eng_layer_ops), sizeof(eng_optimizer), plugin_name}

/* Numeric settings of an optimizer being created, by name (from a Lua options table). Layer
 * kinds declare their settings instead (registry.h). */
typedef struct eng_plugin_config {
    int count;
    const char *keys[16];
    double values[16];
} eng_plugin_config;

/* The value of key, or def when absent. */
double eng_plugin_config_get(const eng_plugin_config *config, const char *key, double def);

typedef struct eng_optimizer_kind {
    const char *name;
    /* A new optimizer over the parameters of the list (a model's: eng_model_params). */
    eng_status (*create)(const eng_param_list *params, const eng_plugin_config *config,
                         eng_optimizer **out);
    const char *doc;
} eng_optimizer_kind;

typedef struct eng_plugin_registry eng_plugin_registry;

/* Called by a plugin's engine_plugin_init. The kind structs must outlive the process (static
 * storage): the engine keeps pointers to them. A layer kind is checked as eng_kind_check does
 * (registry.h); a duplicate or empty name, a required slot left NULL or a bad settings
 * declaration is refused with a message naming it. The kinds are published in the registry
 * once engine_plugin_init has succeeded. */
ENG_MUST_CHECK eng_status eng_plugin_register_layer(eng_plugin_registry *registry,
                                                    const eng_layer_kind *kind);
ENG_MUST_CHECK eng_status eng_plugin_register_optimizer(eng_plugin_registry *registry,
                                                        const eng_optimizer_kind *kind);

typedef struct eng_plugin {
    char path[4096];
    char name[64];
    void *handle; /* from dlopen; plugins stay loaded until exit */
    int nlayers, noptimizers;
    const eng_layer_kind *layers[32];
    const eng_optimizer_kind *optimizers[8];
} eng_plugin;

/* Loads a plugin: dlopen with RTLD_NOW, check engine_plugin_abi, call engine_plugin_init.
 * A path without '/' is searched in the colon-separated directories of ENGINE_PLUGIN_PATH
 * (then the current directory), as given, then with "lib" before and ".so" after. Loading
 * the same file twice returns the first load. [out] *out stays owned by the engine. */
ENG_MUST_CHECK eng_status eng_plugin_load(const char *path, const eng_plugin **out);

/* Whether a loaded plugin registered this vtable (the gradient checker treats such layers as
 * possibly kinked unless they provide a signature). */
bool eng_plugin_owns_ops(const eng_layer_ops *ops);

/* A registered optimizer kind by name, or NULL (layer kinds: eng_kind_find). */
const eng_optimizer_kind *eng_plugin_find_optimizer(const char *name);

#pragma GCC visibility pop

#endif
