/* A C program with no Lua: loads a checkpoint written from Lua, runs a forward pass on a batch
 * read from a raw file and prints the cross-entropy loss in hexadecimal (%a), so that the
 * caller can compare it bit for bit with the loss Lua computed.
 *   forward_loss CHECKPOINT.h5 BATCH.bin N C H W
 * BATCH.bin: N*C*H*W doubles (x), then N int64 labels (y), native byte order. */
#include <stdio.h>
#include <stdlib.h>

#include <engine/engine.h>

static int fail(const char *what)
{
    fprintf(stderr, "forward_loss: %s: %s\n", what, eng_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: forward_loss CHECKPOINT.h5 BATCH.bin N C H W\n");
        return 2;
    }
    int64_t shape[4];
    for (int d = 0; d < 4; d++)
        shape[d] = strtoll(argv[3 + d], NULL, 10);
    eng_model *model = NULL;
    eng_loss *loss = NULL;
    eng_tensor *x = NULL, *y = NULL;
    if (eng_checkpoint_load_model(argv[1], &model))
        return fail(argv[1]);
    if (eng_tensor_new(ENG_F64, 4, shape, &x) || eng_tensor_new(ENG_I64, 1, shape, &y))
        return fail("tensors");
    FILE *f = fopen(argv[2], "rb");
    size_t nx = (size_t)eng_tensor_numel(x), ny = (size_t)shape[0];
    if (!f || fread(eng_tensor_data(x), sizeof(double), nx, f) != nx ||
        fread(eng_tensor_data(y), sizeof(int64_t), ny, f) != ny) {
        fprintf(stderr, "forward_loss: cannot read %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    eng_tensor *x_model = x;
    const eng_tensor *out;
    double value;
    eng_model_set_training(model, false);
    if (eng_model_forward(model, x_model, &out))
        return fail("forward");
    if (eng_cross_entropy_new(&loss) || eng_loss_forward(loss, out, y, &value))
        return fail("loss");
    printf("%a\n", value);
    eng_loss_release(loss);
    eng_tensor_release(x);
    eng_tensor_release(y);
    eng_model_release(model);
    return 0;
}
