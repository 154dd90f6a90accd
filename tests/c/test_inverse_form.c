/*
 * inverse_form beyond the registry sweep: a network small enough to follow
 * by hand, the shape rules of its layers, non-finite weights, and the weight
 * file (lk_inverse_form_weights_load): a round trip in both dtypes, and every
 * kind of broken file (missing, short, wrong magic, version or dtype, sizes
 * out of range or forged to ask for more than the file holds, truncated,
 * trailing bytes, NaN values).
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

#define WEIGHT_FILE "test_inverse_form_weights.bin"

static lk_tensor tensor_of(double *data, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    lk_tensor t = {data, LK_F64, ndim, {d0, d1, d2, d3}};
    return t;
}

/* T = 1, one tile: p = 0.25 (activation=none), target 0.5;
 * h1 = relu(2 p - 1 g + 0.5) = 0.5, h2 = relu(3 h1 - 1) = 0.5,
 * o = (3 h2, 4 h2) = (1.5, 2): loss 2.5; d loss / d p = (0.6 3 + 0.8 4) 3 2 = 30. */
static void test_hand_computed_network(void)
{
    double p = 0.25, g = 0.5, w1[2] = {2, -1}, b1[1] = {0.5}, w2[1] = {3}, b2[1] = {-1}, w3[2] = {3, 4},
           b3[2] = {0, 0}, loss = 0, grad = 0;
    lk_tensor inputs[8] = {tensor_of(&p, 4, 1, 1, 1, 1), tensor_of(&g, 4, 1, 1, 1, 1), tensor_of(w1, 2, 1, 2, 0, 0),
                           tensor_of(b1, 1, 1, 0, 0, 0), tensor_of(w2, 2, 1, 1, 0, 0), tensor_of(b2, 1, 1, 0, 0, 0),
                           tensor_of(w3, 2, 2, 1, 0, 0), tensor_of(b3, 1, 2, 0, 0, 0)};
    lk_tensor out = tensor_of(&loss, 0, 0, 0, 0, 0), grads[8] = {tensor_of(&grad, 4, 1, 1, 1, 1)};
    CHECK_OK(lk_compute("inverse_form", "activation=none,tile_rows=1,tile_cols=1", inputs, 8, &out, grads));
    CHECK_CLOSE(loss, 2.5, 1e-15, 0);
    CHECK_CLOSE(grad, 30, 1e-14, 0);
    /* a 2 x 3 grid of the same pixel, resized: six equal tiles, the same mean; the sum is 6 times */
    CHECK_OK(lk_compute("inverse_form", "activation=none,tile_rows=2,tile_cols=3,reduction=sum", inputs, 8, &out,
                        grads));
    CHECK_CLOSE(loss, 6 * 2.5, 1e-15, 0);
    CHECK_CLOSE(grad, 6 * 30, 1e-14, 0);
    /* o = 0 exactly (relu cuts h1): loss 0, gradient 0 by convention, not NaN */
    b1[0] = -5;
    CHECK_OK(lk_compute("inverse_form", "activation=none,tile_rows=1,tile_cols=1", inputs, 8, &out, grads));
    CHECK(loss == 0 && grad == 0);
}

/* The six layers of a network with T = 2, H1 = 3, H2 = 2, D = 4. */
typedef struct small_network {
    double w1[3 * 8], b1[3], w2[2 * 3], b2[2], w3[4 * 2], b3[4];
} small_network;

static void small_network_layers(small_network *net, lk_tensor *layers)
{
    double *arrays[6] = {net->w1, net->b1, net->w2, net->b2, net->w3, net->b3};
    const int64_t rows[6] = {3, 3, 2, 2, 4, 4}, cols[6] = {8, 0, 3, 0, 2, 0};
    unsigned state = 7;
    for (int k = 0; k < 6; k++) {
        layers[k] = tensor_of(arrays[k], cols[k] ? 2 : 1, rows[k], cols[k], 0, 0);
        for (int64_t i = 0; i < rows[k] * (cols[k] ? cols[k] : 1); i++) {
            state = state * 1103515245u + 12345u;
            arrays[k][i] = (double)(state >> 8 & 0xffff) / 32768.0 - 1;
        }
    }
}

static void test_layer_shapes_are_checked(void)
{
    small_network net;
    lk_tensor inputs[8];
    double edges[2 * 5 * 4], target[2 * 5 * 4], loss;
    for (int i = 0; i < 40; i++) {
        edges[i] = 0.1 * i - 2;
        target[i] = (i % 3) / 2.0;
    }
    inputs[0] = tensor_of(edges, 4, 2, 1, 5, 4);
    inputs[1] = tensor_of(target, 4, 2, 1, 5, 4);
    small_network_layers(&net, inputs + 2);
    lk_tensor out = tensor_of(&loss, 0, 0, 0, 0, 0);
    CHECK_OK(lk_compute("inverse_form", "", inputs, 8, &out, NULL));
    inputs[2].shape[0] = 1;
    inputs[2].shape[1] = 24; /* 2 T T for no integer T */
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("input 'w1' must be (H, 2 T T)");
    inputs[2] = tensor_of(net.w1, 2, 3, 8, 0, 0);
    inputs[4].shape[1] = 2;
    inputs[4].shape[0] = 3;
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("input 'w2' must be (H_out, 3)");
    inputs[4] = tensor_of(net.w2, 2, 2, 3, 0, 0);
    inputs[3].shape[0] = 2;
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("input 'b1' must be (3,)");
    inputs[3].shape[0] = 3;
    inputs[0] = tensor_of(edges, 3, 2, 1, 20, 0);
    inputs[1] = tensor_of(target, 3, 2, 1, 20, 0);
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_ESHAPE);
    CHECK_MESSAGE_HAS("edge maps (N, C, H, W)");
    inputs[0] = tensor_of(edges, 4, 2, 1, 5, 4);
    inputs[1] = tensor_of(target, 4, 2, 1, 5, 4);
    /* non-finite weights are named, W1's through its products */
    net.w1[13] = NAN;
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("input 'w1'[1, 5] = nan");
    net.w1[13] = INFINITY;
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("input 'w1'[1, 5] = inf");
    net.w1[13] = 0.5;
    net.b3[2] = -INFINITY;
    CHECK_STATUS(lk_compute("inverse_form", "", inputs, 8, &out, NULL), LK_EVALUE);
    CHECK_MESSAGE_HAS("input 'b3'[2] = -inf");
    net.b3[2] = 0.5;
    CHECK_OK(lk_compute("inverse_form", "", inputs, 8, &out, NULL));
}

/* ------------------------------------------------------------ the weight file */

static void put_le(unsigned char *at, uint64_t value, int bytes)
{
    for (int i = 0; i < bytes; i++) at[i] = (unsigned char)(value >> (8 * i));
}

static void write_header(unsigned char *header, const char *magic, uint64_t version, uint64_t dtype,
                         uint64_t side, uint64_t hidden1, uint64_t hidden2, uint64_t outputs)
{
    memcpy(header, magic, 8);
    put_le(header + 8, version, 4);
    put_le(header + 12, dtype, 4);
    put_le(header + 16, side, 8);
    put_le(header + 24, hidden1, 8);
    put_le(header + 32, hidden2, 8);
    put_le(header + 40, outputs, 8);
}

/* A file of the header and `count` values of the dtype (i / 8 - 1, or the layers'). */
static void write_file(const unsigned char *header, lk_dtype dtype, int64_t count, const lk_tensor *layers)
{
    FILE *file = fopen(WEIGHT_FILE, "wb");
    CHECK(file != NULL);
    if (!file) return;
    fwrite(header, 1, 48, file);
    int64_t layer = 0, within = 0;
    for (int64_t i = 0; i < count; i++) {
        double value = (double)i / 8 - 1;
        if (layers) {
            while (within >= layers[layer].shape[0] * (layers[layer].ndim == 2 ? layers[layer].shape[1] : 1)) {
                layer++;
                within = 0;
            }
            value = ((const double *)layers[layer].data)[within++];
        }
        unsigned char bytes[8];
        if (dtype == LK_F32) {
            float narrow = (float)value;
            uint32_t bits;
            memcpy(&bits, &narrow, 4);
            put_le(bytes, bits, 4);
        } else {
            uint64_t bits;
            memcpy(&bits, &value, 8);
            put_le(bytes, bits, 8);
        }
        fwrite(bytes, 1, lk_dtype_size(dtype), file);
    }
    fclose(file);
}

static void test_weight_file_round_trip(void)
{
    small_network net;
    lk_tensor layers[6];
    small_network_layers(&net, layers);
    for (int d = 0; d < 2; d++) {
        lk_dtype dtype = d ? LK_F64 : LK_F32;
        unsigned char header[48];
        write_header(header, "LKINVFRM", 1, (uint64_t)dtype, 2, 3, 2, 4);
        write_file(header, dtype, 24 + 3 + 6 + 2 + 8 + 4, layers);
        lk_inverse_form_weights *weights = NULL;
        CHECK_OK(lk_inverse_form_weights_load(WEIGHT_FILE, &weights));
        if (!weights) continue;
        CHECK(weights->dtype == dtype && weights->tile_size == 2 && weights->hidden1 == 3 &&
              weights->hidden2 == 2 && weights->outputs == 4);
        for (int k = 0; k < 6; k++) {
            CHECK(weights->layers[k].ndim == layers[k].ndim && weights->layers[k].shape[0] == layers[k].shape[0]);
            for (int64_t i = 0; i < layers[k].shape[0] * (layers[k].ndim == 2 ? layers[k].shape[1] : 1); i++) {
                double stored = dtype == LK_F32 ? ((const float *)weights->layers[k].data)[i]
                                                : ((const double *)weights->layers[k].data)[i];
                double expected = ((const double *)layers[k].data)[i];
                CHECK(stored == (dtype == LK_F32 ? (double)(float)expected : expected));
            }
        }
        /* the loaded layers are inverse_form's inputs 2 to 7 as they are */
        double edges[2 * 3 * 3], target[2 * 3 * 3];
        float edges32[18], target32[18];
        for (int i = 0; i < 18; i++) {
            edges[i] = 0.3 * i - 2.5;
            target[i] = (i % 4) / 3.0;
            edges32[i] = (float)edges[i];
            target32[i] = (float)target[i];
        }
        lk_tensor inputs[8] = {tensor_of(edges, 4, 2, 1, 3, 3), tensor_of(target, 4, 2, 1, 3, 3)};
        if (dtype == LK_F32) {
            inputs[0].data = edges32;
            inputs[1].data = target32;
            inputs[0].dtype = inputs[1].dtype = LK_F32;
        }
        memcpy(inputs + 2, weights->layers, sizeof weights->layers);
        double loss64 = 0;
        float loss32 = 0;
        lk_tensor out = {dtype == LK_F32 ? (void *)&loss32 : (void *)&loss64, dtype, 0, {0}};
        CHECK_OK(lk_compute("inverse_form", "tile_rows=2,tile_cols=2", inputs, 8, &out, NULL));
        double value = dtype == LK_F32 ? loss32 : loss64;
        CHECK(isfinite(value) && value > 0);
        lk_inverse_form_weights_free(weights);
    }
    lk_inverse_form_weights_free(NULL);
    remove(WEIGHT_FILE);
}

/* Loading fails with this status and a message holding `text`. */
static void check_load_fails(lk_status status, const char *text, const char *what)
{
    lk_inverse_form_weights *weights = (lk_inverse_form_weights *)&weights;
    lk_status got = lk_inverse_form_weights_load(WEIGHT_FILE, &weights);
    CHECK_MSG(got == status, "%s: got %s, expected %s (%s)", what, lk_status_name(got), lk_status_name(status),
              lk_last_error());
    CHECK_MSG(weights == NULL, "%s: out not reset to NULL", what);
    CHECK_MSG(strstr(lk_last_error(), text) != NULL, "%s: message '%s' lacks '%s'", what, lk_last_error(), text);
}

static void test_broken_weight_files(void)
{
    unsigned char header[48];
    int64_t valid = 24 + 3 + 6 + 2 + 8 + 4;
    remove(WEIGHT_FILE);
    check_load_fails(LK_ESYSTEM, "cannot open '" WEIGHT_FILE "'", "missing file");
    write_header(header, "LKINVFRM", 1, LK_F32, 2, 3, 2, 4);
    FILE *file = fopen(WEIGHT_FILE, "wb");
    if (file) {
        fwrite(header, 1, 20, file);
        fclose(file);
    }
    check_load_fails(LK_EVALUE, "fewer than the 48 of the header", "short header");
    write_header(header, "LKINVFRX", 1, LK_F32, 2, 3, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "magic", "wrong magic");
    write_header(header, "LKINVFRM", 2, LK_F32, 2, 3, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "field 'version' = 2", "future version");
    write_header(header, "LKINVFRM", 1, 7, 2, 3, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "field 'dtype' = 7", "unknown dtype");
    write_header(header, "LKINVFRM", 1, LK_I32, 2, 3, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "field 'dtype' = 3", "integer dtype");
    write_header(header, "LKINVFRM", 1, LK_F32, 0, 3, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "field 'tile_size' = 0", "zero tile size");
    write_header(header, "LKINVFRM", 1, LK_F32, 2, 3, (uint64_t)1 << 40, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "field 'hidden2' = 1099511627776", "hidden2 beyond its limit");
    write_header(header, "LKINVFRM", 1, LK_F32, (uint64_t)1 << 20, (uint64_t)1 << 31, 2, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "values; at most", "forged sizes asking for 2^52 values");
    write_header(header, "LKINVFRM", 1, LK_F32, 224, (uint64_t)1 << 31, 32, 4);
    write_file(header, LK_F32, valid, NULL);
    check_load_fails(LK_EVALUE, "(truncated)", "forged sizes, 2e14 values, in a small file");
    write_header(header, "LKINVFRM", 1, LK_F64, 2, 3, 2, 4);
    write_file(header, LK_F64, valid - 1, NULL);
    check_load_fails(LK_EVALUE, "(truncated)", "one value short");
    write_file(header, LK_F64, valid + 1, NULL);
    check_load_fails(LK_EVALUE, "(bytes after the arrays)", "one value too many");
    write_file(header, LK_F32, valid, NULL); /* a float64 header over float32 values: half the bytes */
    check_load_fails(LK_EVALUE, "(truncated)", "float32 values under a float64 header");
    small_network net;
    lk_tensor layers[6];
    small_network_layers(&net, layers);
    net.b2[1] = NAN;
    write_file(header, LK_F64, valid, layers);
    check_load_fails(LK_EVALUE, "b2[1] = nan", "NaN weight");
    CHECK_STATUS(lk_inverse_form_weights_load(WEIGHT_FILE, NULL), LK_EINVAL);
    lk_inverse_form_weights *weights;
    CHECK_STATUS(lk_inverse_form_weights_load(NULL, &weights), LK_EINVAL);
    CHECK_MESSAGE_HAS("path");
    remove(WEIGHT_FILE);
}

int main(int argc, char **argv)
{
    static const lk_test tests[] = {
        {"hand_computed_network", test_hand_computed_network},
        {"layer_shapes_are_checked", test_layer_shapes_are_checked},
        {"weight_file_round_trip", test_weight_file_round_trip},
        {"broken_weight_files", test_broken_weight_files},
    };
    return lk_test_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
