/* Shared declarations of the Lua 5.4 bindings (bindings/l_*.c) and the host (main.c).
 *
 * Every engine object reaches Lua as a full userdata "box" holding a pointer to the C object.
 * The box is pushed before the C object is created, so that a Lua error raised afterwards
 * (or a failed allocation) still frees the object through __gc. __gc and __close share one
 * release function per type, which leaves the box empty (NULL) so a second call is harmless.
 *
 * Indices: Lua sees 1-based dimensions and positions; conversion to 0-based happens only here.
 * Errors: a C call that fails leaves its message in eng_errmsg(); the binding frees its C
 * temporaries first and then raises l_engine_error(L). */
#ifndef ENGINE_BINDINGS_H
#define ENGINE_BINDINGS_H

#include <stdbool.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "engine.h"

/* Metatable names: argument errors read "(engine.Tensor expected, got nil)". */
#define ENG_LUA_TENSOR "engine.Tensor"
#define ENG_LUA_LAYER "engine.Layer"
#define ENG_LUA_SEQUENTIAL "engine.Sequential"
#define ENG_LUA_LOSS "engine.Loss"
#define ENG_LUA_OPTIMIZER "engine.Optimizer"
#define ENG_LUA_SCHEDULER "engine.Scheduler"
#define ENG_LUA_DATASET "engine.Dataset"

/* Module openers: each pushes one table. luaopen_engine (l_engine.c) builds `engine` from them:
 * the tensor functions go into `engine` itself, the others become engine.nn, engine.optim,
 * engine.data and engine.gradcheck. */
int luaopen_engine(lua_State *L);
int luaopen_engine_tensor(lua_State *L);
int luaopen_engine_nn(lua_State *L);
int luaopen_engine_optim(lua_State *L);
int luaopen_engine_data(lua_State *L);
int luaopen_engine_gradcheck(lua_State *L);
int luaopen_engine_plugin(lua_State *L);
/* engine.save and engine.load (l_io.c): called by luaopen_engine after engine.nn,
 * engine.optim and engine.data exist (the `engine` table is just below the top); pushes
 * engine.io = {save, load} and adds the methods model:load and opt:load. */
int luaopen_engine_io(lua_State *L);
/* Lua tables <-> eng_meta trees (l_io.c): numbers, strings, booleans, lists of numbers and
 * nested tables with string keys; where names the table in error messages. */
void l_to_meta(lua_State *L, int idx, eng_meta *t, const char *where);
void l_push_meta(lua_State *L, const eng_meta *t);
/* Pushes an empty engine.Meta box and returns its slot: a tree stored there is freed by the
 * box's __gc (or __close) unless taken out again (set the slot to NULL). */
eng_meta **l_push_meta_box(lua_State *L);
/* engine.sweep (l_sweep.c) */
int luaopen_engine_sweep(lua_State *L);
int luaopen_engine_dist(lua_State *L);
/* engine.train (l_train.c, bindings/train.lua): pushes the function */
int luaopen_engine_train(lua_State *L);
/* Pushes the C function runlog_read(path) -> the run log's table (l_train.c). */
int l_push_runlog_read(lua_State *L);
/* engine.report (l_report.c): with the engine table on top, pushes engine.report and sets
 * engine.sweep.html and the gradient-check report's html method */
int luaopen_engine_report(lua_State *L);
/* engine.progress (l_progress.c) */
int luaopen_engine_progress(lua_State *L);

/* ---- tensors (l_tensor.c) ---- */

/* The tensor in box arg; raises a Lua argument error when arg is not a live engine.Tensor. */
eng_tensor *l_check_tensor(lua_State *L, int arg);
/* The tensor in box arg, or NULL when arg is not an engine.Tensor (or a closed one). */
eng_tensor *l_test_tensor(lua_State *L, int arg);
/* Pushes a new, empty tensor box and returns its slot: store the tensor there as soon as it
 * exists, and the box owns it from then on. */
eng_tensor **l_new_tensor_box(lua_State *L);
/* For functions taking an optional destination `out` (arg): when arg is a live, contiguous
 * tensor of this dtype and shape that does not share storage with `avoid` [optional], pushes
 * it again and returns it (to be overwritten); otherwise pushes a new box with a new zero
 * tensor. Lets loops write `y = model:forward(x, y)` without allocating per step. */
eng_tensor *l_reuse_tensor(lua_State *L, int arg, eng_dtype dtype, int ndim, const int64_t *shape,
                           const eng_tensor *avoid);
/* Pushes a box owning t (ownership passes to Lua). Only a memory error of Lua itself while
 * creating the box would lose t: prefer l_new_tensor_box before creating the tensor. */
void l_push_tensor(lua_State *L, eng_tensor *t);
/* Pushes a new box holding a view of t (sharing t's storage). */
void l_push_tensor_view(lua_State *L, const eng_tensor *t);
/* Pushes a new box holding a contiguous copy of t. */
void l_push_tensor_copy(lua_State *L, const eng_tensor *t);

/* Adds the math of l_tensor_math.c: operators to the metatable, methods to the method table
 * and functions (engine.exp, engine.where, ...) to the module table, at these indices. */
void l_open_tensor_math(lua_State *L, int meta, int methods, int funcs);
/* The reductions and products of l_tensor_reduce.c, as methods and functions (called by
 * l_open_tensor_math). */
void l_open_tensor_reduce(lua_State *L, int methods, int funcs);
/* x:op(y [, {out=}]) and x:op_(y) (inplace), y a tensor or a number (l_tensor_math.c). */
int l_math_binary(lua_State *L, eng_binop op, const char *fname, bool inplace);

/* Arguments of the tensor math (l_tensor_args.c); fname names the function in messages. */
/* Raises "fname: too many arguments (4 given, at most 3 expected)". */
void l_math_nargs(lua_State *L, int max, const char *fname);
/* Whether idx holds a number; if so *s is it, integer or float as Lua has it. */
bool l_math_test_scalar(lua_State *L, int idx, eng_scalar *s);
/* A tensor (returned) or a number (NULL, in *s) at idx. */
const eng_tensor *l_math_operand(lua_State *L, int idx, const char *fname, eng_scalar *s);
/* The options table at idx (0 when none or nil), checked against names (NULL-terminated). */
int l_math_opts(lua_State *L, int idx, const char *fname, const char *const *names);
/* Fields of the options table opts (0: none, giving def). */
bool l_math_opt_bool(lua_State *L, int opts, const char *fname, const char *name, bool def);
double l_math_opt_number(lua_State *L, int opts, const char *fname, const char *name, double def);
/* Pushes the destination and returns it: option out (pushed again) or a new tensor. */
eng_tensor *l_math_push_dst(lua_State *L, int opts, const char *fname, eng_dtype dtype, int ndim,
                            const int64_t *shape);
/* A 1-based dimension at idx (negative counts from the end: -1 is the last) to 0-based. */
int l_math_dim(lua_State *L, int idx, const eng_tensor *t, const char *fname);
/* A whole-tensor result as a Lua number (f32 results keep their double accumulation). */
void l_math_push_scalar(lua_State *L, eng_scalar v);

/* A dtype name at arg ("f32", "f64", "u8", "i32", "i64"); def when arg is none or nil. */
eng_dtype l_opt_dtype(lua_State *L, int arg, eng_dtype def);
/* A shape table {2,3} at arg into shape[ENG_MAX_DIMS]; returns the number of dimensions. */
int l_check_shape(lua_State *L, int arg, int64_t *shape);
/* A dimension at arg into a 0-based one: 1..ndim + extra, or counted from the end with -1 the
 * last (extra is 1 where a new dimension may go after the last, as in unsqueeze). Raises
 * "dimension 4 out of range for [2,3] (1..2)" otherwise. */
int l_check_dim(lua_State *L, int arg, const eng_tensor *t, int extra);
/* Raises "what: 4 arguments given, at most 3 expected ..." when more than n arguments are on
 * the stack: extra arguments are errors, never ignored. */
void l_check_nargs(lua_State *L, int n, const char *what);
/* The number at arg as an element of dtype: raises "what: value 300 out of range for u8 ..."
 * when an integer dtype cannot hold it. */
double l_check_element(lua_State *L, int arg, eng_dtype dtype, const char *what);
/* Tensor parts (l_tensor_create.c, l_tensor_shape.c, l_tensor_index.c): each adds its
 * methods and functions to the tables on the stack (metatable, methods, functions, from
 * bottom to top) and leaves the stack as it found it. The indexing part sets __index and
 * __newindex on the metatable, so it runs last. */
void l_tensor_create_open(lua_State *L);
void l_tensor_shape_open(lua_State *L);
void l_tensor_index_open(lua_State *L);
/* __tostring of engine.Tensor (l_tensor_print.c): "tensor([[1.0000, 2.0000]], dtype=f32)". */
int l_tensor_tostring(lua_State *L);
/* Pushes the shape as a Lua list of integers. */
void l_push_shape(lua_State *L, int ndim, const int64_t *shape);

/* ---- shared helpers (l_engine.c) ---- */

/* Raises the C library's last message as a Lua error. Never returns. */
int l_engine_error(lua_State *L);

/* Checks that the options table at arg (absolute index; none or nil accepted) has no keys
 * outside names (NULL-terminated); raises "<fname>: unknown option 'x' (expected a, b, c)". */
void l_check_options(lua_State *L, int arg, const char *fname, const char *const *names);
/* Reads one field of the options table at arg (absolute index; none or nil gives def). A
 * field of the wrong type raises "<fname>: option 'name' must be a <type>, got <type>". */
lua_Number l_opt_number_field(lua_State *L, int arg, const char *fname, const char *name,
                              lua_Number def);
lua_Integer l_opt_integer_field(lua_State *L, int arg, const char *fname, const char *name,
                                lua_Integer def);
bool l_opt_boolean_field(lua_State *L, int arg, const char *fname, const char *name, bool def);
const char *l_opt_string_field(lua_State *L, int arg, const char *fname, const char *name,
                               const char *def);
/* Whether the field is present (not nil) in the options table at arg. */
bool l_has_field(lua_State *L, int arg, const char *name);
/* Calls table[method](table, args...) for the table held at registry reference ref, the
 * tensors as views (nil for NULL), leaving nresults on the stack; a Lua error becomes an
 * ENG_ESTATE error "<who><method> failed: <message>" with nothing left on the stack. */
eng_status l_call_method(lua_State *L, int ref, const char *method, const eng_tensor *const *args,
                         int nargs, int nresults, const char *who);
/* An integer argument that must fit a C int. */
int l_check_int(lua_State *L, int arg);
/* A size given as an integer n (meaning {n,n}) or a table {h,w}, at idx; each in
 * [min, 2^20]. Errors read "<fname>: <what> must be ...". */
void l_check_pair(lua_State *L, int idx, const char *fname, const char *what, int min, int *h,
                  int *w);
/* The same for field name of the options table at arg; def for both when absent. */
void l_opt_pair_field(lua_State *L, int arg, const char *fname, const char *name, int def, int min,
                      int *h, int *w);
/* The value's type for messages: its metatable's __name ("engine.Tensor") or its Lua type. */
const char *l_typename_of(lua_State *L, int idx);

/* ---- boxes and classes (l_box.c) ---- */

/* A class of boxes: a full userdata whose FIRST member is the pointer to the C object (NULL
 * before it exists and once released: the box is then "closed"). Declare one static const per
 * type: {ENG_LUA_OPTIMIZER, "optimizer is closed", sizeof(optimbox), optimbox_free}. */
typedef struct l_boxclass {
    const char *name;        /* metatable name, "engine.Tensor": type errors name it */
    const char *closed;      /* [optional] the argument error for an empty box, "tensor is
                              * closed"; NULL: a box that is never closed (and may hold a
                              * value, not a pointer) */
    size_t size;             /* bytes of the box */
    void (*free)(void *box); /* [optional] frees what the box holds; __gc and __close call it
                              * once, when the object pointer is not NULL, then set it NULL */
} l_boxclass;

/* Pushes the class's metatable, creating it (with __gc and __close) on first use. */
void l_box_class(lua_State *L, const l_boxclass *cls);
/* Pushes a new zeroed box of the class with nuv user values and returns it: push it BEFORE
 * creating the C object, then store the object in it, so an error frees it through __gc. */
void *l_box_push(lua_State *L, const l_boxclass *cls, int nuv);
/* The box at arg. Raises "bad argument #2 to 'forward' (engine.Tensor expected, got nil)"
 * when arg is not a box of the class, and "bad argument #1 to 'numel' (tensor is closed)"
 * when it is empty. */
void *l_box_check(lua_State *L, int arg, const l_boxclass *cls);
/* The box at arg, or NULL when arg is not a box of the class or is a closed one. */
void *l_box_test(lua_State *L, int arg, const l_boxclass *cls);
/* Pushes the class's metatable with __tostring [optional], then a new table of methods above
 * it: set more methods in it, then store it as __index and pop both. */
void l_new_class(lua_State *L, const l_boxclass *cls, lua_CFunction tostring,
                 const luaL_Reg *methods);
/* Adds method name to the class tname: into its __index table, or into the method table that
 * is the first upvalue of an __index function (engine.Sequential's). */
void l_add_method(lua_State *L, const char *tname, const char *name, lua_CFunction f);
/* Sets t[name] = f with one upvalue, a boolean (when boolean) or an integer, in the table on
 * the stack top. */
void l_set_closure(lua_State *L, const char *name, lua_CFunction f, int boolean, int value);

/* ---- layers (l_nn.c), models (l_sequential.c), losses (l_loss.c) ---- */

/* The box of an engine.Layer. A model holds the boxes of its layers too: it stamps them at
 * each forward and sets their mode. */
typedef struct l_layerbox {
    eng_layer *layer; /* one reference; NULL once released */
    bool training;    /* mode of layer:forward (a model uses its own) */
    uint64_t stamp;   /* the forward that produced the C layer's current state */
    eng_tensor *x;    /* view of the last layer:forward's input, for backward */
    eng_tensor *y;    /* that forward's output */
} l_layerbox;

/* Pushes a new, empty layer box (training mode) and returns it. */
l_layerbox *l_push_layerbox(lua_State *L);
/* Drops the box's saved layer:forward input and output. */
void l_layerbox_clear(l_layerbox *box);
/* A new stamp for a forward of a layer or a model (a process-wide counter). */
uint64_t l_next_forward_stamp(void);
eng_layer *l_check_layer_arg(lua_State *L, int arg);
/* Pushes a new, empty layer box and returns its slot (the box owns what is stored there). */
eng_layer **l_new_layer_box(lua_State *L);
/* Pushes {name=, value=, grad=} with views of the parameter. */
void l_push_param(lua_State *L, const char *name, const eng_param *p);
/* Pushes the PyTorch-style description, "Conv2d(1, 16, kernel_size=(5, 5), stride=(1, 1))",
 * derived from the kind's declared settings (eng_layer_repr). */
void l_push_repr(lua_State *L, const eng_layer *layer);
/* Add the metatable and constructors of engine.Sequential (l_sequential.c) and of the losses
 * (l_loss.c) to the engine.nn table on the stack top. */
void l_open_sequential(lua_State *L);
void l_open_losses(lua_State *L);
/* nn.Lua{name=, params=, forward=, backward=} (l_lua_layer.c) */
int l_nn_lua(lua_State *L);
/* nn.new(kind, options): a layer of any registered kind, its settings by name (l_kinds.c) */
int l_nn_new(lua_State *L);
/* Sets engine.nn.<Ctor> in the table on the stack top for every kind that names a
 * constructor (l_kinds.c). */
void l_set_kind_constructors(lua_State *L);
/* Fills s (initialised for its kind) from the arguments of a constructor named fname: the
 * POSITIONAL settings in declaration order, then an options table whose keys are the other
 * settings or one of extra (NULL-terminated, read by the caller). Returns the options' index,
 * 0 when none (l_kinds.c). */
int l_settings_from_args(lua_State *L, eng_settings *s, const char *fname,
                         const char *const *extra);
/* Pushes the layer's settings as a table {kind = ..., <setting> = <value>, ...} (l_kinds.c). */
void l_push_settings(lua_State *L, const eng_layer *layer);
/* Adds layer:buffers() and model:buffers() (l_layers.c); the constructors of all kinds come
 * from l_set_kind_constructors. */
void l_nn_open_layers(lua_State *L);
eng_model *l_check_model(lua_State *L, int arg);
/* Containers (l_containers.c): sets nn.Residual and nn.Concat in the table on the stack top;
 * pushes a layer box holding the Sequential at idx as one layer; appends the tree of m's
 * layers (containers opened) to b, one line per layer. */
void l_nn_open_containers(lua_State *L);
void l_push_sequential_layer(lua_State *L, int idx);
void l_add_model_tree(lua_State *L, luaL_Buffer *b, const eng_model *m);
eng_loss *l_check_loss(lua_State *L, int arg);
/* The finished settings of the loss at arg and its constructor's name (*ctor), or NULL when
 * arg is not an engine loss. */
const eng_settings *l_test_loss_settings(lua_State *L, int arg, const char **ctor);

/* ---- datasets (l_data.c, l_h5data.c) ---- */

/* Adds open, write and read_idx (HDF5 datasets, IDX files) and the metatable
 * engine.StreamDataset to the engine.data table on the stack top (l_h5data.c). */
void l_open_h5data(lua_State *L);

/* ---- optimizers (l_optim.c) ---- */

eng_optimizer *l_check_optimizer(lua_State *L, int arg);
/* Adds the metatable engine.Scheduler and the schedule constructors (StepLR, ExponentialLR,
 * CosineAnnealingLR, LinearLR, scheduler) to the engine.optim table on the stack top
 * (l_schedule.c). */
void l_open_schedules(lua_State *L);
/* The schedule in box arg (an engine.Scheduler); raises an argument error otherwise. */
eng_schedule *l_check_schedule(lua_State *L, int arg);

/* ds:batches for both dataset kinds (l_batches.c): the options of the call whose batch size
 * is argument size_arg (options table after it); a box for the C iterator (push it before
 * creating the iterator); the Lua iterator over it, keeping the dataset at index `dataset`
 * alive. */
eng_batch_options l_check_batch_options(lua_State *L, int size_arg, eng_dtype sample_dtype,
                                        bool *reuse);
eng_batches **l_new_batches_box(lua_State *L);
int l_push_batch_iterator(lua_State *L, int dataset, int iterbox, bool reuse);

/* engine.clock(): monotonic seconds (l_engine.c); the Lua parts (sweep, train) get it too. */
int l_clock(lua_State *L);

#endif
