/*
 * losskit from C: the focal loss of a small batch and its gradient, then what
 * a mistake in the input looks like.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs losskit) -o quickstart
 */
#include <math.h>
#include <stdio.h>

#include "losskit.h"

enum { N = 2, C = 3, H = 4, W = 4 };

int main(void)
{
    static float logits[N * C * H * W], grad[N * C * H * W];
    static long long labels[N * H * W];
    for (int i = 0; i < N * C * H * W; i++) logits[i] = (float)sin(0.7 * i) * 2;
    for (int i = 0; i < N * H * W; i++) labels[i] = i % C;
    labels[5] = -100; /* ignored, as with PyTorch's default ignore_index */

    /* Look the loss up, set its parameters (checked against the registry). */
    const lk_loss_desc *focal = lk_loss_find("focal");
    lk_params *params = NULL;
    if (lk_params_create(focal, &params) != LK_OK || lk_params_parse(params, "gamma=2,alpha=[0.25]") != LK_OK) {
        fprintf(stderr, "%s\n", lk_last_error());
        return 1;
    }

    /* Inputs in registry order: scores (N, C, H, W) and labels (N, H, W). */
    lk_tensor inputs[2] = {{logits, LK_F32, 4, {N, C, H, W}}, {labels, LK_I64, 3, {N, H, W}}};
    float loss;
    lk_tensor out = {&loss, LK_F32, 0, {0}};                           /* a scalar: reduction=mean */
    lk_tensor grads[2] = {{grad, LK_F32, 4, {N, C, H, W}}, {NULL}}; /* no gradient for labels */
    lk_status status = lk_loss_compute(focal, params, inputs, 2, &out, grads, NULL);
    if (status != LK_OK) {
        fprintf(stderr, "%s: %s\n", lk_status_name(status), lk_last_error());
        return 1;
    }
    printf("focal loss = %.6f, d loss / d logits[0, :, 0, 0] = (%.6f, %.6f, %.6f)\n", loss, grad[0],
           grad[H * W], grad[2 * H * W]);

    /* A label out of range is reported with its index, never read past. */
    labels[N * H * W - 1] = 7;
    status = lk_loss_compute(focal, params, inputs, 2, &out, grads, NULL);
    printf("with a bad label: %s: %s\n", lk_status_name(status), lk_last_error());

    lk_params_destroy(params);
    return 0;
}
