/* The `engine` host: a Lua 5.4 interpreter with the engine module preloaded, shaped like
 * lua.c (a protected main, a traceback message handler, Ctrl-C through a hook, `arg` and
 * `...` for the script).
 *
 *   engine [options] [script [args]]
 *
 * Exit status: 0, or 1 after an error (the message and a traceback on stderr). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "bindings.h"

#define PROMPT "> "
#define PROMPT2 ">> "
#define LINE_MAX_INPUT 4096

static const char *progname = "engine";
static lua_State *globalL = NULL;

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e CODE        execute string CODE (may repeat)\n"
            "  -i             enter interactive mode after running the script\n"
            "  --threads N    use N threads (default 1, or $ENGINE_THREADS): models split\n"
            "                 their batches between them\n"
            "  --seed N       seed the global random generator with N\n"
            "  --version, -v  show version information\n"
            "  --help, -h     show this help\n"
            "  --             stop handling options\n"
            "  -              stop handling options and execute stdin\n"
            "Without a script or -e, reads statements interactively when stdin is a terminal,\n"
            "else runs stdin as a script. The module `engine` is preloaded and global.\n",
            progname);
}

static void print_version(void)
{
    printf("engine %s, %s\n", ENGINE_VERSION, LUA_RELEASE);
    fflush(stdout);
}

/* Prints "engine: msg" on stderr (no program name in the interactive prompt). */
static void l_message(const char *pname, const char *msg)
{
    if (pname)
        fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/* Prints the error on the stack top, if any, and pops it. */
static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        l_message(progname, msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

/* ---- Ctrl-C: the signal handler only sets a hook; the hook raises the error from Lua. ---- */

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void laction(int sig)
{
    signal(sig, SIG_DFL); /* a second Ctrl-C kills the process */
    lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Adds a traceback to an error message; non-string errors go through __tostring. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below narg arguments with the message handler and Ctrl-C armed. */
static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    globalL = L;
    signal(SIGINT, laction);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int dochunk(lua_State *L, int status)
{
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name)
{
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* arg[0] is the script, arg[1..] its arguments, negative indices the interpreter and its
 * options; without a script every argument gets a positive index after arg[0]. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc)
        script = 0;
    lua_createtable(L, argc - script - 1 > 0 ? argc - script - 1 : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int push_args(lua_State *L)
{
    if (lua_getglobal(L, "arg") != LUA_TTABLE)
        luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++)
        lua_rawgeti(L, -i, i);
    lua_remove(L, -n - 1);
    return n;
}

static int handle_script(lua_State *L, char **argv)
{
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
        fname = NULL; /* stdin */
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = push_args(L);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

/* ---- command line ---- */

typedef struct options {
    int script; /* index of the script in argv, argc when none */
    bool has_e, has_i, version, help;
    int threads; /* 0: not given */
    bool has_seed;
    unsigned long long seed;
} options;

static bool parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s || !(*s >= '0' && *s <= '9')) /* strtoull would take spaces, '+' and '-' */
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return *end == '\0' && errno == 0 && *out <= max; /* ERANGE: above 2^64-1 */
}

/* Scans the options before the script; returns 0, or 1 after printing an error. */
static int collect_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    int i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        unsigned long long v;
        if (strcmp(a, "-") == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "-e") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: '-e' needs an argument\n", progname);
                return 1;
            }
            o->has_e = true;
        } else if (strcmp(a, "-i") == 0) {
            o->has_i = true;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            o->version = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
        } else if (strcmp(a, "--threads") == 0) {
            if (!parse_count(argv[++i], ENG_MAX_THREADS, &v) || v == 0) {
                fprintf(stderr, "%s: '--threads' needs a count in 1..%d\n", progname,
                        ENG_MAX_THREADS);
                return 1;
            }
            o->threads = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_count(argv[++i], ~0ULL, &v)) {
                fprintf(stderr, "%s: '--seed' needs an integer in 0..18446744073709551615\n",
                        progname);
                return 1;
            }
            o->has_seed = true;
            o->seed = v;
        } else {
            fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
            print_usage(stderr);
            return 1;
        }
    }
    o->script = i < argc ? i : argc;
    return 0;
}

/* Runs the -e chunks in order. */
static int run_e(lua_State *L, char **argv, int script)
{
    for (int i = 1; i < script; i++) {
        if (strcmp(argv[i], "-e") == 0) {
            if (dostring(L, argv[++i], "=(command line)") != LUA_OK)
                return 0;
        } else if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "--seed") == 0) {
            i++;
        }
    }
    return 1;
}

/* ---- interactive mode: fgets lines; "return <line>" first so that expressions print ---- */

static bool read_line(lua_State *L, bool first)
{
    char buf[LINE_MAX_INPUT];
    fputs(first ? PROMPT : PROMPT2, stdout);
    fflush(stdout);
    if (fgets(buf, sizeof buf, stdin) == NULL)
        return false;
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    lua_pushlstring(L, buf, len);
    return true;
}

static bool incomplete(lua_State *L, int status)
{
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char eof_mark[] = "<eof>";
    size_t mark = sizeof eof_mark - 1;
    if (status == LUA_ERRSYNTAX && len >= mark && strcmp(msg + len - mark, eof_mark) == 0) {
        lua_pop(L, 1);
        return true;
    }
    return false;
}

/* Reads and compiles one statement (lines joined while incomplete); -1 at end of input. */
static int load_line(lua_State *L)
{
    lua_settop(L, 0);
    if (!read_line(L, true))
        return -1;
    const char *line = lua_tostring(L, 1);
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2); /* the "return" string */
    } else {
        lua_pop(L, 2);
        for (;;) {
            size_t len;
            line = lua_tolstring(L, 1, &len);
            status = luaL_loadbuffer(L, line, len, "=stdin");
            if (!incomplete(L, status) || !read_line(L, false))
                break;
            lua_pushliteral(L, "\n");
            lua_insert(L, -2);
            lua_concat(L, 3);
        }
    }
    lua_remove(L, 1); /* the line */
    return status;
}

/* Prints the values on the stack with the global print. */
static void print_results(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        l_message(progname, lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

static void do_repl(lua_State *L)
{
    const char *saved = progname;
    int status;
    progname = NULL;
    while ((status = load_line(L)) != -1) {
        if (status == LUA_OK)
            status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK)
            print_results(L);
        else
            report(L, status);
    }
    lua_settop(L, 0);
    fputs("\n", stdout);
    fflush(stdout);
    progname = saved;
}

/* ---- main ---- */

/* Opens the libraries, preloads `engine` and makes it global. */
static void open_libs(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_engine);
    lua_setfield(L, -2, "engine");
    lua_pop(L, 1);
    luaL_requiref(L, "engine", luaopen_engine, 1);
    lua_pop(L, 1);
}

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    options *o = lua_touserdata(L, 3);
    luaL_checkversion(L);
    open_libs(L);
    create_arg_table(L, argv, argc, o->script);
    lua_gc(L, LUA_GCGEN, 0, 0);
    if (!run_e(L, argv, o->script))
        return 0;
    if (o->script < argc && handle_script(L, argv + o->script) != LUA_OK)
        return 0;
    if (o->has_i) {
        do_repl(L);
    } else if (o->script == argc && !o->has_e && !o->version) {
        if (isatty(STDIN_FILENO)) {
            print_version();
            do_repl(L);
        } else {
            if (dochunk(L, luaL_loadfile(L, NULL)) != LUA_OK)
                return 0;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv)
{
    options o;
    if (collect_args(argc, argv, &o))
        return EXIT_FAILURE;
    if (o.help) {
        print_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (o.version)
        print_version();

    /* One thread unless told otherwise: results are then bit-reproducible. */
    int threads = 1;
    unsigned long long env_threads;
    const char *env = getenv("ENGINE_THREADS");
    if (o.threads) {
        threads = o.threads;
    } else if (env) { /* checked as strictly as --threads */
        if (!parse_count(env, ENG_MAX_THREADS, &env_threads) || env_threads == 0) {
            fprintf(stderr, "%s: ENGINE_THREADS='%s' needs a count in 1..%d\n", progname, env,
                    ENG_MAX_THREADS);
            return EXIT_FAILURE;
        }
        threads = (int)env_threads;
    }
    if (eng_set_threads(threads)) {
        fprintf(stderr, "%s: %s\n", progname, eng_errmsg());
        return 1;
    }
    if (o.has_seed)
        eng_rng_seed(eng_rng_global(), (uint64_t)o.seed);

    lua_State *L = luaL_newstate();
    if (L == NULL) {
        l_message(progname, "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    lua_pushlightuserdata(L, &o);
    int status = lua_pcall(L, 3, 1, 0);
    int ok = lua_toboolean(L, -1);
    report(L, status);
    lua_close(L);
    return ok && status == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
