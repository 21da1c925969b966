/* Layers of any registered kind from Lua, derived from the kind's declared settings
 * (engine/registry.h): the constructors engine.nn.<Ctor> of the kinds that name one, nn.new,
 * and layer:config().
 *
 *   nn.Conv2d(1, 16, 5, {padding = 2, name = "c1"})   -- POSITIONAL settings in declaration
 *                                                      -- order, then an options table
 *   nn.LeakyReLU(0.2)  nn.LeakyReLU{negative_slope = 0.2}
 *   nn.new("conv2d", {in_channels = 1, out_channels = 16, kernel_size = 5, dtype = "f64"})
 *
 * Values go through the same eng_settings_set_* checks as configs read from checkpoints. */
#include <string.h>

#include "bindings.h"

/* Sets setting key of s from the Lua value at idx; leaves a message and returns non-zero on a
 * refusal. */
static eng_status set_from_lua(lua_State *L, eng_settings *s, const char *key, int idx)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: return eng_settings_set_number(s, key, lua_tonumber(L, idx));
    case LUA_TBOOLEAN: return eng_settings_set_bool(s, key, lua_toboolean(L, idx));
    case LUA_TSTRING: return eng_settings_set_string(s, key, lua_tostring(L, idx));
    case LUA_TTABLE: {
        const eng_setting *d = eng_settings_find(s, key, NULL);
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        double v[ENG_SETTING_INTS_MAX] = {0};
        if (d && d->type == ENG_SETTING_INTS) {
            for (lua_Integer k = 0; k < n && k < ENG_SETTING_INTS_MAX; k++) {
                int type = lua_rawgeti(L, idx, k + 1);
                v[k] = lua_tonumber(L, -1);
                lua_pop(L, 1);
                if (type != LUA_TNUMBER)
                    return eng_error(ENG_EARG,
                                     "%s: setting '%s' must be a list of integers, "
                                     "got a %s in it",
                                     s->name, key, lua_typename(L, type));
            }
            return eng_settings_set_ints(
                s, key, v, (int)(n > ENG_SETTING_INTS_MAX + 1 ? ENG_SETTING_INTS_MAX + 1 : n));
        }
        break; /* a table for anything else */
    }
    default: break;
    }
    {
        if (!eng_settings_find(s, key, NULL))
            return eng_settings_set_bool(s, key, false); /* names the kind's settings */
        return eng_error(ENG_EARG, "%s: setting '%s' cannot be a %s", s->name, key,
                         luaL_typename(L, idx));
    }
}

/* Whether options may name this setting: every one but the required ones, which come as
 * positional arguments. */
static bool in_options(const eng_setting *d)
{
    return !(d->flags & ENG_SETTING_REQUIRED);
}

/* Whether key is one of names (NULL-terminated). */
static bool is_extra(const char *key, const char *const *extra)
{
    for (; extra && *extra; extra++)
        if (strcmp(key, *extra) == 0)
            return true;
    return false;
}

/* Checks the option keys of the table at opts against s's declaration and extra; unknown ones
 * raise "<Ctor>: unknown option 'x' (expected a, b, dtype, name)". */
static void check_option_keys(lua_State *L, int opts, const eng_settings *s, const char *fname,
                              const char *const *extra)
{
    const char *names[ENG_SETTINGS_MAX + 4];
    int n = 0;
    for (const eng_setting *d = s->decl; d && d->name; d++)
        if (in_options(d))
            names[n++] = d->name;
    for (; extra && *extra && n < ENG_SETTINGS_MAX + 3; extra++)
        names[n++] = *extra;
    names[n] = NULL;
    l_check_options(L, opts, fname, names);
}

/* Sets every setting named in the options table at opts, but the keys in extra. */
static void settings_from_options(lua_State *L, int opts, eng_settings *s, const char *const *extra)
{
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        const char *key = lua_tostring(L, -2); /* keys checked to be strings */
        if (!is_extra(key, extra) && set_from_lua(L, s, key, -1))
            l_engine_error(L);
        lua_pop(L, 1);
    }
}

/* Makes the layer from s with the options' dtype and name, and pushes its box. */
static int push_layer(lua_State *L, eng_settings *s, int opts, const char *fname)
{
    eng_dtype dtype = ENG_F32;
    const char *dname = opts ? l_opt_string_field(L, opts, fname, "dtype", "f32") : "f32";
    if (eng_dtype_parse(dname, &dtype))
        return luaL_error(L, "%s: %s", fname, eng_errmsg());
    const char *name = opts ? l_opt_string_field(L, opts, fname, "name", NULL) : NULL;
    eng_layer **slot = l_new_layer_box(L);
    if (eng_layer_create(s, dtype, NULL, slot))
        return l_engine_error(L);
    if (name && eng_layer_set_name(*slot, name))
        return l_engine_error(L);
    return 1;
}

/* Sets a positional setting from argument arg, raising Lua's usual argument errors for a
 * value of the wrong Lua type. */
static void set_positional(lua_State *L, eng_settings *s, const eng_setting *d, int arg,
                           const char *fname)
{
    int type = lua_type(L, arg);
    if (d->type == ENG_SETTING_INTS && type != LUA_TNUMBER && type != LUA_TTABLE)
        luaL_error(L, "%s: %s must be an integer or a list of %d integers, got %s", fname, d->name,
                   d->len, luaL_typename(L, arg));
    if ((d->type == ENG_SETTING_INT || d->type == ENG_SETTING_NUMBER) && type != LUA_TNUMBER)
        luaL_typeerror(L, arg, "number");
    if (d->type == ENG_SETTING_BOOL && type != LUA_TBOOLEAN)
        luaL_typeerror(L, arg, "boolean");
    if (d->type == ENG_SETTING_STRING && type != LUA_TSTRING)
        luaL_typeerror(L, arg, "string");
    if (set_from_lua(L, s, d->name, arg))
        l_engine_error(L);
}

int l_settings_from_args(lua_State *L, eng_settings *s, const char *fname, const char *const *extra)
{
    int top = lua_gettop(L), arg = 1, opts = 0;
    for (const eng_setting *d = s->decl; d && d->name; d++) {
        if (!(d->flags & ENG_SETTING_POSITIONAL))
            continue;
        bool is_list = d->type == ENG_SETTING_INTS && lua_istable(L, arg) && lua_rawlen(L, arg) > 0;
        if (arg > top || (lua_istable(L, arg) && !is_list) ||
            (lua_isnil(L, arg) && !(d->flags & ENG_SETTING_REQUIRED)))
            break; /* the rest come from the options or their defaults */
        set_positional(L, s, d, arg++, fname);
    }
    while (arg < top && lua_isnil(L, arg))
        arg++; /* optional positional settings left nil: nn.Dropout(nil, {name = "d"}) */
    if (arg <= top && !lua_isnil(L, arg)) {
        luaL_checktype(L, arg, LUA_TTABLE);
        opts = arg++;
    }
    if (arg <= top && !lua_isnoneornil(L, arg))
        return luaL_error(L, "%s: too many arguments (%d)", fname, top);
    if (opts) {
        check_option_keys(L, opts, s, fname, extra);
        settings_from_options(L, opts, s, extra);
    }
    return opts;
}

/* engine.nn.<Ctor>(positional..., [options]); upvalue 1: the kind (light userdata). */
static int l_construct(lua_State *L)
{
    static const char *const with_dtype[] = {"dtype", "name", NULL};
    const eng_layer_kind *kind = lua_touserdata(L, lua_upvalueindex(1));
    eng_settings s;
    eng_settings_init(&s, kind);
    int opts = l_settings_from_args(L, &s, kind->ctor, with_dtype + !kind->takes_dtype);
    return push_layer(L, &s, opts, kind->ctor);
}

int l_nn_new(lua_State *L)
{
    const char *kind_name = luaL_checkstring(L, 1);
    const eng_layer_kind *kind = eng_kind_find(kind_name);
    if (!kind)
        return luaL_error(L,
                          "nn.new: no layer kind '%s' (a plugin's kind needs its plugin "
                          "loaded first with engine.plugin.load)",
                          kind_name);
    if (!kind->create)
        return luaL_error(L, "nn.new: layer kind '%s' cannot be made from settings", kind_name);
    eng_settings s;
    eng_settings_init(&s, kind);
    int opts = lua_isnoneornil(L, 2) ? 0 : 2;
    if (opts) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "nn.new: option keys must be strings");
            const char *key = lua_tostring(L, -2);
            if (strcmp(key, "dtype") == 0 && !kind->takes_dtype)
                return luaL_error(L, "nn.new: layer kind '%s' has no parameters, so no dtype",
                                  kind_name);
            lua_pop(L, 1);
        }
        settings_from_options(L, 2, &s, (const char *const[]){"dtype", "name", NULL});
    }
    return push_layer(L, &s, opts, "nn.new");
}

/* Pushes the layer's settings as a table: {kind = "conv2d", in_channels = 1, stride = {1, 1},
 * ...}. */
void l_push_settings(lua_State *L, const eng_layer *layer)
{
    eng_settings s;
    if (eng_layer_settings(layer, &s)) {
        l_engine_error(L);
        return;
    }
    lua_createtable(L, 0, s.count + 1);
    lua_pushstring(L, s.kind->name);
    lua_setfield(L, -2, "kind");
    for (int i = 0; i < s.count; i++) {
        const eng_setting *d = &s.kind->settings[i];
        const eng_setting_value *v = &s.values[i];
        switch (d->type) {
        case ENG_SETTING_INT: lua_pushinteger(L, (lua_Integer)v->number); break;
        case ENG_SETTING_NUMBER: lua_pushnumber(L, v->number); break;
        case ENG_SETTING_BOOL: lua_pushboolean(L, v->number != 0); break;
        case ENG_SETTING_STRING: lua_pushstring(L, v->string); break;
        case ENG_SETTING_INTS:
            lua_createtable(L, v->n, 0);
            for (int k = 0; k < v->n; k++) {
                lua_pushinteger(L, (lua_Integer)v->ints[k]);
                lua_rawseti(L, -2, k + 1);
            }
            break;
        }
        lua_setfield(L, -2, d->name);
    }
}

void l_set_kind_constructors(lua_State *L)
{
    for (int i = 0, n = eng_kind_count(); i < n; i++) {
        const eng_layer_kind *kind = eng_kind_at(i);
        if (!kind->ctor || !kind->create)
            continue;
        lua_pushlightuserdata(L, (void *)kind);
        lua_pushcclosure(L, l_construct, 1);
        lua_setfield(L, -2, kind->ctor);
    }
}
