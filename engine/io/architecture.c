/* A model's architecture as text for checkpoints: the Lua table literal (attribute
 * architecture) that the Lua binding evaluates to rebuild the model, and the same structure as
 * JSON (attribute model_config), so that readers without Lua (h5py, Keras-style tools) get it
 * too.
 *
 * Grammar accepted: value = table | string | number | true | false; table = '{' [field
 * {(','|';') field} [','|';']] '}'; field = Name '=' value | value. A table of keyed fields is
 * an object, a table of positional ones an array; mixing the two is refused. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

typedef struct parser {
    const char *s; /* the literal */
    size_t i;
    sbuf out;
    const char *error; /* first error, static text */
    size_t error_at;
} parser;

static bool fail(parser *p, const char *what)
{
    if (!p->error) {
        p->error = what;
        p->error_at = p->i;
    }
    return false;
}

static void skip_space(parser *p)
{
    while (isspace((unsigned char)p->s[p->i]))
        p->i++;
}

static bool is_name_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

/* A Name at p->i: its length, 0 when none. */
static size_t name_length(const parser *p)
{
    size_t n = 0;
    if (!is_name_start(p->s[p->i]))
        return 0;
    while (isalnum((unsigned char)p->s[p->i + n]) || p->s[p->i + n] == '_')
        n++;
    return n;
}

/* Writes bytes as a JSON string. */
static void put_json_string(sbuf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(b, esc);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* A quoted Lua string: the common escapes (\\ \' \" \n \t \r \ddd \xhh). */
static bool parse_string(parser *p)
{
    char quote = p->s[p->i++];
    sbuf raw = {0};
    for (;;) {
        char c = p->s[p->i];
        if (c == '\0' || c == '\n') {
            free(raw.p);
            return fail(p, "unfinished string");
        }
        p->i++;
        if (c == quote)
            break;
        if (c != '\\') {
            put(&raw, &c, 1);
            continue;
        }
        char e = p->s[p->i++], v;
        switch (e) {
        case 'n':
            v = '\n';
            break;
        case 't':
            v = '\t';
            break;
        case 'r':
            v = '\r';
            break;
        case '\\':
        case '\'':
        case '"':
            v = e;
            break;
        case 'x': {
            char hex[3] = {p->s[p->i], p->s[p->i] ? p->s[p->i + 1] : '\0', '\0'};
            if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1])) {
                free(raw.p);
                return fail(p, "bad \\x escape");
            }
            v = (char)strtol(hex, NULL, 16);
            p->i += 2;
            break;
        }
        default:
            if (isdigit((unsigned char)e)) {
                int code = e - '0';
                for (int k = 0; k < 2 && isdigit((unsigned char)p->s[p->i]); k++)
                    code = 10 * code + (p->s[p->i++] - '0');
                if (code > 255) {
                    free(raw.p);
                    return fail(p, "bad \\ddd escape");
                }
                v = (char)code;
            } else {
                free(raw.p);
                return fail(p, "unsupported escape in a string");
            }
        }
        put(&raw, &v, 1);
    }
    put_json_string(&p->out, raw.p ? raw.p : "", raw.n);
    bool oom = raw.oom;
    free(raw.p);
    return oom ? fail(p, "out of memory") : true;
}

/* Whether s[0..n) is a JSON number as written. */
static bool is_json_number(const char *s, size_t n)
{
    size_t k = 0;
    if (k < n && s[k] == '-')
        k++;
    if (k >= n || !isdigit((unsigned char)s[k]))
        return false;
    if (s[k] == '0')
        k++;
    else
        while (k < n && isdigit((unsigned char)s[k]))
            k++;
    if (k < n && s[k] == '.') {
        k++;
        if (k >= n || !isdigit((unsigned char)s[k]))
            return false;
        while (k < n && isdigit((unsigned char)s[k]))
            k++;
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        if (k < n && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k >= n || !isdigit((unsigned char)s[k]))
            return false;
        while (k < n && isdigit((unsigned char)s[k]))
            k++;
    }
    return k == n;
}

static bool parse_number(parser *p)
{
    const char *start = p->s + p->i;
    char *end;
    double v = strtod(start, &end);
    if (end == start || v != v || v - v != 0)
        return fail(p, "bad or non-finite number");
    size_t n = (size_t)(end - start);
    p->i += n;
    if (is_json_number(start, n)) {
        put(&p->out, start, n);
    } else {
        char buf[40];
        snprintf(buf, sizeof buf, "%.17g", v);
        puts_(&p->out, buf);
    }
    return true;
}

static bool parse_value(parser *p, int depth);

static bool parse_table(parser *p, int depth)
{
    if (depth > 32)
        return fail(p, "tables nested too deep");
    p->i++;         /* '{' */
    int keyed = -1; /* unknown until the first field */
    bool first = true;
    for (;;) {
        skip_space(p);
        if (p->s[p->i] == '}') {
            p->i++;
            break;
        }
        if (!first) {
            if (p->s[p->i] != ',' && p->s[p->i] != ';')
                return fail(p, "expected ',' or '}'");
            p->i++;
            skip_space(p);
            if (p->s[p->i] == '}') {
                p->i++;
                break;
            }
        }
        size_t n = name_length(p), save = p->i;
        bool has_key = false;
        if (n > 0) {
            p->i += n;
            skip_space(p);
            has_key = p->s[p->i] == '=' && p->s[p->i + 1] != '=';
            if (!has_key)
                p->i = save;
        }
        if (keyed == -1) {
            keyed = has_key;
            put(&p->out, keyed ? "{" : "[", 1);
        } else if (keyed != has_key) {
            return fail(p, "a table mixes keyed and positional fields");
        }
        if (!first)
            puts_(&p->out, ", ");
        if (has_key) {
            put_json_string(&p->out, p->s + save, n);
            puts_(&p->out, ": ");
            p->i++; /* '=' */
        }
        if (!parse_value(p, depth + 1))
            return false;
        first = false;
    }
    puts_(&p->out, keyed == 0 ? "]" : keyed == 1 ? "}" : "{}");
    return true;
}

static bool parse_value(parser *p, int depth)
{
    skip_space(p);
    char c = p->s[p->i];
    if (c == '{')
        return parse_table(p, depth);
    if (c == '\'' || c == '"')
        return parse_string(p);
    if (isdigit((unsigned char)c) || c == '-' || c == '.')
        return parse_number(p);
    size_t n = name_length(p);
    if ((n == 4 && strncmp(p->s + p->i, "true", 4) == 0) ||
        (n == 5 && strncmp(p->s + p->i, "false", 5) == 0)) {
        put(&p->out, p->s + p->i, n);
        p->i += n;
        return true;
    }
    return fail(p, "expected a table, string, number or boolean");
}

eng_status eng_lua_literal_to_json(const char *literal, char **out)
{
    parser p = {.s = literal};
    *out = NULL;
    bool ok = parse_value(&p, 0);
    skip_space(&p);
    if (ok && p.s[p.i] != '\0')
        ok = fail(&p, "trailing characters");
    if (ok && p.out.oom)
        ok = fail(&p, "out of memory");
    if (!ok) {
        free(p.out.p);
        return eng_error(p.out.oom ? ENG_ENOMEM : ENG_EFORMAT,
                         "configuration literal: %s at character %zu of \"%s\"", p.error,
                         p.error_at + 1, literal);
    }
    *out = p.out.p;
    return ENG_OK;
}

eng_status eng_layer_config(const eng_layer *layer, char **out)
{
    *out = NULL;
    int n = layer->ops->describe ? layer->ops->describe(layer, NULL, 0) : -1;
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 64);
    if (!buf)
        return eng_error(ENG_ENOMEM, "%s: out of memory", eng_layer_label(layer));
    if (n > 0)
        layer->ops->describe(layer, buf, (size_t)n + 1);
    else
        snprintf(buf, 64, "{kind='%.40s'}", layer->ops->kind);
    *out = buf;
    return ENG_OK;
}

/* Writes s as a Lua string literal: '...' with \\, \' and control characters escaped. */
static void put_lua_string(sbuf *b, const char *s)
{
    put(b, "'", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '\\' || c == '\'') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\%03d", c);
            puts_(b, esc);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "'", 1);
}

eng_status eng_model_architecture(const eng_model *model, char **lua, char **json)
{
    sbuf l = {0}, j = {0};
    const char *dtype = eng_dtype_name(eng_model_dtype(model));
    *lua = *json = NULL;
    puts_(&l, "{kind='sequential', dtype='");
    puts_(&l, dtype);
    puts_(&l, "', layers={\n");
    puts_(&j, "{\"kind\": \"sequential\", \"dtype\": \"");
    puts_(&j, dtype);
    puts_(&j, "\", \"layers\": [\n");
    for (int i = 0; i < model->nlayers; i++) {
        const eng_layer *layer = model->layers[i];
        char *config, *config_json;
        eng_status st = eng_layer_config(layer, &config);
        if (st) {
            free(l.p);
            free(j.p);
            return st;
        }
        puts_(&l, "  {name=");
        put_lua_string(&l, layer->name);
        puts_(&l, ", config=");
        puts_(&l, config);
        puts_(&l, "},\n");
        puts_(&j, "  {\"name\": ");
        put_json_string(&j, layer->name, strlen(layer->name));
        puts_(&j, ", \"config\": ");
        if (eng_lua_literal_to_json(config, &config_json) == ENG_OK) {
            puts_(&j, config_json);
            free(config_json);
        } else {
            /* A plugin's configuration the subset cannot hold: keep it as text. */
            eng_error_clear();
            puts_(&j, "{\"kind\": ");
            put_json_string(&j, layer->ops->kind, strlen(layer->ops->kind));
            puts_(&j, ", \"lua\": ");
            put_json_string(&j, config, strlen(config));
            puts_(&j, "}");
        }
        puts_(&j, i + 1 < model->nlayers ? "},\n" : "}\n");
        free(config);
    }
    puts_(&l, "}}");
    puts_(&j, "]}");
    if (l.oom || j.oom) {
        free(l.p);
        free(j.p);
        return eng_error(ENG_ENOMEM, "sequential: out of memory for the architecture");
    }
    *lua = l.p;
    *json = j.p;
    return ENG_OK;
}
