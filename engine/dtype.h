/* The element types of tensors. A header of its own so that kernels, which know dtypes but
 * not tensors, can include it without the tensor API. */
#ifndef ENGINE_DTYPE_H
#define ENGINE_DTYPE_H

#pragma GCC visibility push(default) /* public API: exported by libengine and the host */

typedef enum eng_dtype {
    ENG_F32 = 0,
    ENG_F64,
    ENG_U8,
    ENG_I32,
    ENG_I64,
} eng_dtype;

#pragma GCC visibility pop

#endif
