/* Private declarations shared by the engine.gradcheck bindings (bindings/l_gradcheck*.c):
 *   l_gradcheck.c          the module table and the checks of models and layers
 *   l_gradcheck_options.c  the checker's options table -> eng_gc_options
 *   l_gradcheck_report.c   reports as Lua tables, report:save and gradcheck.replay
 *   l_gradcheck_lua.c      criteria and objectives written in Lua (gradcheck.check_function)
 *   l_gradcheck_sweep.c    step studies: gradcheck.taylor and gradcheck.sweep */
#ifndef ENGINE_L_GRADCHECK_H
#define ENGINE_L_GRADCHECK_H

#include "bindings.h"
#include "gradcheck/gradcheck.h"

/* The metatable of report tables (__tostring, and methods such as save and html). */
#define ENG_LUA_GRADCHECK_REPORT "engine.GradcheckReport"

/* ---- options (l_gradcheck_options.c) ---- */

/* How a check probes the gradient: element by element, or along random directions. */
typedef enum l_gc_mode { L_GC_ELEMENT, L_GC_DIRECTIONAL } l_gc_mode;

/* The options table at arg (nil for none) as eng_gc_options; raises a Lua error naming fname
 * on an unknown or out-of-range option. Strings in the result point into the table at arg. */
eng_gc_options l_gc_read_options(lua_State *L, int arg, const char *fname);
/* options.mode ('element' or 'directional') and options.directions [out] (default 16). */
l_gc_mode l_gc_read_mode(lua_State *L, int arg, const char *fname, int *directions);

/* ---- reports (l_gradcheck_report.c) ---- */

/* Pushes report r as a table with metatable engine.GradcheckReport (the caller still owns r). */
void l_gc_push_report(lua_State *L, const eng_gc_report *r);
/* Records what the report on the stack top was computed from (argument positions, 0 for
 * none) in its hidden fields _model, _criterion, _x, _y and _options, for report:save. */
void l_gc_keep_inputs(lua_State *L, int model, int criterion, int x, int target, int options);
/* Pushes an empty box for a C report (freed by __gc) and returns its slot: store the report
 * there as soon as it exists. */
eng_gc_report **l_gc_new_report_box(lua_State *L);
/* With such a box on top: replaces it with the report table (l_gc_push_report), which keeps
 * the box in its hidden field _report (for report:save). */
void l_gc_push_boxed_report(lua_State *L);
/* With the module table on top: creates the report metatable (with its save method) and
 * adds gradcheck.replay to the module. */
void l_gc_open_reports(lua_State *L);

/* ---- criteria and objectives written in Lua (l_gradcheck_lua.c) ---- */

/* The criterion at arg: an engine.Loss (borrowed) or a Lua table with forward and backward
 * (wrapped; *owned [out] is set to the wrapper, which the caller releases). */
eng_loss *l_gc_check_criterion(lua_State *L, int arg, eng_loss **owned);
/* gradcheck.check_function(f, tensors [, options]) */
int l_gc_check_function(lua_State *L);

/* ---- checks (l_gradcheck.c) ---- */

/* Runs one check of mode m on obj (released here), then pushes the report, or raises the
 * engine's error once obj is freed. */
int l_gc_run_and_push(lua_State *L, eng_gc_objective *obj, const eng_gc_options *o, l_gc_mode m,
                      int directions);

/* ---- step studies (l_gradcheck_sweep.c) ---- */

int l_gc_taylor(lua_State *L);
int l_gc_sweep(lua_State *L);

#endif
