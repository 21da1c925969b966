/* Element types by name and size: what the file formats, the bindings and the messages share. */
#include "tensor.h"

#include <string.h>

const char *eng_dtype_name(eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32: return "f32";
    case ENG_F64: return "f64";
    case ENG_U8: return "u8";
    case ENG_I32: return "i32";
    case ENG_I64: return "i64";
    }
    return "?";
}

eng_status eng_dtype_parse(const char *name, eng_dtype *out)
{
    /* clang-format off */
    static const struct { const char *name; eng_dtype dtype; } names[] = {
        {"f32", ENG_F32}, {"float32", ENG_F32}, {"float", ENG_F32},
        {"f64", ENG_F64}, {"float64", ENG_F64}, {"double", ENG_F64},
        {"u8", ENG_U8},   {"uint8", ENG_U8},    {"i32", ENG_I32},
        {"int32", ENG_I32}, {"i64", ENG_I64},   {"int64", ENG_I64},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].dtype;
            return ENG_OK;
        }
    }
    return eng_error(ENG_EDTYPE, "unknown dtype '%s' (expected f32, f64, u8, i32 or i64)", name);
}

size_t eng_dtype_size(eng_dtype dtype)
{
    switch (dtype) {
    case ENG_F32: return 4;
    case ENG_F64: return 8;
    case ENG_U8: return 1;
    case ENG_I32: return 4;
    case ENG_I64: return 8;
    }
    return 0;
}

bool eng_dtype_is_float(eng_dtype dtype)
{
    return dtype == ENG_F32 || dtype == ENG_F64;
}
