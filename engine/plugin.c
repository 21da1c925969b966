#include "plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loaded plugins live until the process exits: their code is referenced by the layers they
 * created, which can outlive any handle we might close. */
#define MAX_PLUGINS 64

static eng_plugin plugins[MAX_PLUGINS];
static int nplugins;

struct eng_plugin_registry {
    eng_plugin *plugin;
};

/* Optimizer names a plugin may not take: the built-in optimizers. */
static const char *const builtin_optimizers[] = {"sgd", NULL};

double eng_plugin_config_get(const eng_plugin_config *config, const char *key, double def)
{
    for (int i = 0; config && i < config->count; i++)
        if (strcmp(config->keys[i], key) == 0)
            return config->values[i];
    return def;
}

bool eng_plugin_owns_ops(const eng_layer_ops *ops)
{
    for (int p = 0; p < nplugins; p++)
        for (int i = 0; i < plugins[p].nlayers; i++)
            if (plugins[p].layers[i]->ops == ops)
                return true;
    return false;
}

const eng_optimizer_kind *eng_plugin_find_optimizer(const char *name)
{
    for (int p = 0; p < nplugins; p++)
        for (int i = 0; i < plugins[p].noptimizers; i++)
            if (strcmp(plugins[p].optimizers[i]->name, name) == 0)
                return plugins[p].optimizers[i];
    return NULL;
}

static eng_status check_name(const eng_plugin *plugin, const char *what, const char *name)
{
    if (!name || !name[0] || strlen(name) >= ENG_NAME_MAX)
        return eng_error(ENG_EARG, "plugin %s: a %s kind needs a name of 1 to %d characters",
                         plugin->path, what, ENG_NAME_MAX - 1);
    for (int i = 0; builtin_optimizers[i]; i++)
        if (strcmp(builtin_optimizers[i], name) == 0)
            return eng_error(ENG_EARG, "plugin %s: %s kind '%s' is a built-in name", plugin->path,
                             what, name);
    const eng_layer_kind *known = eng_kind_find(name);
    if (known && !eng_plugin_owns_ops(known->ops))
        return eng_error(ENG_EARG, "plugin %s: %s kind '%s' is a built-in name", plugin->path, what,
                         name);
    for (int p = 0; p <= nplugins && p < MAX_PLUGINS; p++) {
        const eng_plugin *other = &plugins[p];
        for (int i = 0; i < other->nlayers; i++)
            if (strcmp(other->layers[i]->name, name) == 0)
                return eng_error(ENG_EARG,
                                 "plugin %s: layer kind '%s' is already registered "
                                 "(by %s)",
                                 plugin->path, name, other->path);
        for (int i = 0; i < other->noptimizers; i++)
            if (strcmp(other->optimizers[i]->name, name) == 0)
                return eng_error(ENG_EARG,
                                 "plugin %s: optimizer kind '%s' is already "
                                 "registered (by %s)",
                                 plugin->path, name, other->path);
    }
    return ENG_OK;
}

eng_status eng_plugin_register_layer(eng_plugin_registry *registry, const eng_layer_kind *kind)
{
    eng_plugin *plugin = registry->plugin;
    if (!kind)
        return eng_error(ENG_EARG, "plugin %s: NULL layer kind", plugin->path);
    eng_status st = check_name(plugin, "layer", kind->name);
    if (st)
        return st;
    if ((st = eng_kind_check(kind)))
        return eng_error_wrap(st, "plugin %s", plugin->path);
    if (plugin->nlayers == (int)(sizeof plugin->layers / sizeof plugin->layers[0]))
        return eng_error(ENG_EARG, "plugin %s: more than %d layer kinds", plugin->path,
                         (int)(sizeof plugin->layers / sizeof plugin->layers[0]));
    plugin->layers[plugin->nlayers++] = kind;
    return ENG_OK;
}

eng_status eng_plugin_register_optimizer(eng_plugin_registry *registry,
                                         const eng_optimizer_kind *kind)
{
    eng_plugin *plugin = registry->plugin;
    if (!kind)
        return eng_error(ENG_EARG, "plugin %s: NULL optimizer kind", plugin->path);
    eng_status st = check_name(plugin, "optimizer", kind->name);
    if (st)
        return st;
    if (!kind->create)
        return eng_error(ENG_EARG,
                         "plugin %s: optimizer kind '%s' has no create (a required "
                         "slot)",
                         plugin->path, kind->name);
    if (plugin->noptimizers == (int)(sizeof plugin->optimizers / sizeof plugin->optimizers[0]))
        return eng_error(ENG_EARG, "plugin %s: too many optimizer kinds", plugin->path);
    plugin->optimizers[plugin->noptimizers++] = kind;
    return ENG_OK;
}

/* The file to open for a name: as given when it has a '/', else searched. */
static bool resolve(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(out, F_OK) == 0;
    }
    const char *env = getenv("ENGINE_PLUGIN_PATH");
    char dirs[8192];
    snprintf(dirs, sizeof dirs, "%s%s.", env ? env : "", env && *env ? ":" : "");
    static const char *const forms[] = {"%s/%s", "%s/lib%s.so", "%s/%s.so"};
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            snprintf(out, size, forms[f], dir, name);
            if (access(out, F_OK) == 0)
                return true;
        }
    }
    return false;
}

eng_status eng_plugin_load(const char *path, const eng_plugin **out)
{
    *out = NULL;
    char file[4096], real[PATH_MAX];
    if (!resolve(path, file, sizeof file))
        return eng_error(ENG_EIO, "plugin %s: no such file%s", path,
                         strchr(path, '/') ? "" : " (searched ENGINE_PLUGIN_PATH and .)");
    if (!realpath(file, real))
        snprintf(real, sizeof real, "%s", file);
    for (int p = 0; p < nplugins; p++) {
        if (strcmp(plugins[p].path, real) == 0) {
            *out = &plugins[p];
            return ENG_OK;
        }
    }
    if (nplugins == MAX_PLUGINS)
        return eng_error(ENG_ESTATE, "plugin %s: more than %d plugins loaded", real, MAX_PLUGINS);
    void *handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return eng_error(ENG_EFORMAT, "plugin %s: cannot load: %s", real, dlerror());
    const eng_plugin_abi *abi = dlsym(handle, "engine_plugin_abi");
    eng_status (*init)(eng_plugin_registry *) =
        (eng_status(*)(eng_plugin_registry *))dlsym(handle, "engine_plugin_init");
    eng_status st = ENG_OK;
    if (!abi)
        st = eng_error(ENG_EFORMAT,
                       "plugin %s: no engine_plugin_abi symbol (declare it with "
                       "ENG_PLUGIN_DECLARE_ABI)",
                       real);
    else if (abi->abi_version != ENG_PLUGIN_ABI_VERSION)
        st = eng_error(ENG_EFORMAT,
                       "plugin %s: built for plugin ABI version %u, this engine "
                       "has version %d (rebuild it against this engine's headers)",
                       real, abi->abi_version, ENG_PLUGIN_ABI_VERSION);
    else if (abi->layer_ops_size != sizeof(eng_layer_ops) ||
             abi->optimizer_size != sizeof(eng_optimizer))
        st = eng_error(ENG_EFORMAT,
                       "plugin %s: built against different engine headers (layer "
                       "vtable of %u bytes, here %zu): rebuild it",
                       real, abi->layer_ops_size, sizeof(eng_layer_ops));
    else if (!init)
        st = eng_error(ENG_EFORMAT, "plugin %s: no engine_plugin_init function", real);
    if (st) {
        dlclose(handle);
        return st;
    }
    eng_plugin *plugin = &plugins[nplugins];
    memset(plugin, 0, sizeof *plugin);
    snprintf(plugin->path, sizeof plugin->path, "%s", real);
    snprintf(plugin->name, sizeof plugin->name, "%s", abi->name ? abi->name : "");
    plugin->handle = handle;
    eng_plugin_registry registry = {plugin};
    eng_error_clear();
    st = init(&registry);
    if (st) {
        if (!eng_errmsg()[0])
            eng_error(st, "(no message)");
        st = eng_error_wrap(st, "plugin %s: engine_plugin_init failed (%s)", real,
                            eng_status_to_string(st));
        /* Its kinds were never published; the code stays mapped in case it kept pointers. */
        memset(plugin, 0, sizeof *plugin);
        return st;
    }
    /* Published only now: a failed init leaves no kind of it behind. */
    for (int i = 0; i < plugin->nlayers; i++) {
        if ((st = eng_kind_register(plugin->layers[i]))) {
            st = eng_error_wrap(st, "plugin %s", real);
            memset(plugin, 0, sizeof *plugin);
            return st;
        }
    }
    nplugins++;
    *out = plugin;
    return ENG_OK;
}
