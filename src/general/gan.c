/*
 * GAN losses of the discriminator's output, and the cycle-consistency loss.
 *
 * lsgan — least-squares GAN (X. Mao, Q. Li, H. Xie, R. Y. K. Lau, Z. Wang,
 * S. P. Smolley, "Least Squares Generative Adversarial Networks", ICCV 2017):
 *
 *   discriminator_real:  loss = (D(x) - b)^2       (D on real data)
 *   discriminator_fake:  loss = (D(G(z)) - a)^2    (D on generated data)
 *   generator:           loss = (D(G(z)) - c)^2
 *   mean over every element of D's output (a PatchGAN map too)
 *
 * with the paper's a = 0, b = 1, c = 1 by default (its other choice:
 * a = -1, b = 1, c = 0). This is junyanz/pytorch-CycleGAN-and-pix2pix's
 * GANLoss('lsgan')(prediction, target_is_real): MSE against
 * target_real_label = b (= c) or target_fake_label = a. The paper's 1/2 in
 * front of each expectation is left to the caller (CycleGAN computes the
 * discriminator's loss as 0.5 (real + fake)).
 *
 * hinge_gan — the hinge loss of geometric GAN / SAGAN / BigGAN
 * (J. H. Lim, J. C. Ye, "Geometric GAN", 2017; as ajbrock/BigGAN-PyTorch's
 * loss_hinge_dis / loss_hinge_gen):
 *
 *   discriminator_real:  loss = relu(1 - D(x))
 *   discriminator_fake:  loss = relu(1 + D(G(z)))
 *   generator:           loss = -D(G(z))
 *
 * with the subgradient 0 at the hinge (as torch.relu).
 *
 * Selecting the term: `mode` names which of the three terms a call computes,
 * the way training code calls the loss once per term
 * (loss_D = lsgan(D(real), mode=discriminator_real) +
 * lsgan(D(fake.detach()), mode=discriminator_fake); loss_G =
 * lsgan(D(fake), mode=generator)); build one module per mode.
 *
 * cycle_consistency — CycleGAN's cycle loss (J.-Y. Zhu, T. Park, P. Isola,
 * A. A. Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
 * Adversarial Networks", ICCV 2017):
 *
 *   loss = lambda_cycle * |F(G(x)) - x|,  mean over the elements
 *
 * lambda_cycle = 10 as CycleGAN's lambda_A / lambda_B; its identity loss is
 * the same loss of G(y) against y with lambda_cycle = 0.5 * 10. The original
 * image (the target) has no gradient; the subgradient at 0 is 0, as
 * torch.nn.functional.l1_loss. It is the smooth L1 rule at beta = 0
 * (general/smooth_l1.h).
 */
#ifndef LK_REAL
#include "core/hot.h"
#include "general/real_elementwise.h"
#include "general/smooth_l1.h"

enum { MODE_DISCRIMINATOR_REAL, MODE_DISCRIMINATOR_FAKE, MODE_GENERATOR };
enum { LSGAN_MODE, LSGAN_A, LSGAN_B, LSGAN_C, LSGAN_REDUCTION, LSGAN_COUNT };
enum { HINGE_MODE, HINGE_REDUCTION, HINGE_COUNT };
enum { CYCLE_LAMBDA, CYCLE_REDUCTION, CYCLE_COUNT };

typedef struct lsgan_config {
    double target;
} lsgan_config;

typedef struct hinge_config {
    int mode;
} hinge_config;

#define LK_TYPED_FILE "general/gan.c"
#include "core/typed.h"
#else /* typed section ------------------------------------------------------ */

LK_HOT static void LK_T(lsgan_rule)(const lk_elementwise_block *block, const void *config)
{
    const lk_real *restrict x = block->input;
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    const lk_real target = (lk_real)((const lsgan_config *)config)->target;
    for (int j = 0; j < block->len; j++) {
        lk_real d = x[j] - target;
        loss[j] = d * d;
        grad[j] = 2 * d;
    }
}

/* relu(m) for m = 1 + sign * x, d/dx = sign where m > 0. A NaN margin stays
 * NaN (0 * m) so that it reaches the loss sum and is reported. */
static inline void LK_T(hinge_margin)(const lk_elementwise_block *block, lk_real sign)
{
    const lk_real *restrict x = block->input;
    lk_real *restrict loss = block->loss, *restrict grad = block->grad;
    for (int j = 0; j < block->len; j++) {
        lk_real margin = 1 + sign * x[j];
        int active = margin > 0;
        loss[j] = active ? margin : 0 * margin;
        grad[j] = active ? sign : 0;
    }
}

LK_HOT static void LK_T(hinge_rule)(const lk_elementwise_block *block, const void *config)
{
    int mode = ((const hinge_config *)config)->mode;
    if (mode == MODE_DISCRIMINATOR_REAL) {
        LK_T(hinge_margin)(block, -1);
    } else if (mode == MODE_DISCRIMINATOR_FAKE) {
        LK_T(hinge_margin)(block, 1);
    } else {
        const lk_real *restrict x = block->input;
        lk_real *restrict loss = block->loss, *restrict grad = block->grad;
        for (int j = 0; j < block->len; j++) {
            loss[j] = -x[j];
            grad[j] = -1;
        }
    }
}

#endif /* typed section */

#ifndef LK_REAL

static lk_status lsgan_compute(const lk_call *call)
{
    static const int target_of_mode[] = {LSGAN_B, LSGAN_A, LSGAN_C};
    int mode = lk_param_choice(call->params, LSGAN_MODE);
    lsgan_config config = {lk_param_float(call->params, (size_t)target_of_mode[mode])};
    return lk_real_elementwise_loss(call, lsgan_rule_f32, lsgan_rule_f64, &config, NULL);
}

static lk_status hinge_compute(const lk_call *call)
{
    hinge_config config = {lk_param_choice(call->params, HINGE_MODE)};
    return lk_real_elementwise_loss(call, hinge_rule_f32, hinge_rule_f64, &config, NULL);
}

static lk_status cycle_compute(const lk_call *call)
{
    lk_smooth_l1_config config = {lk_param_float(call->params, CYCLE_LAMBDA), 0}; /* beta 0: L1 */
    return lk_real_elementwise_loss(call, lk_smooth_l1_rule_f32, lk_smooth_l1_rule_f64, &config, NULL);
}

#define GAN_MODE_PARAM(real_text, fake_text, generator_text)                               \
    {"mode", LK_PARAM_CHOICE, "generator", 0, 0, 0,                                        \
     "discriminator_real|discriminator_fake|generator",                                    \
     "the term to compute: discriminator_real " real_text " (D's output on real data), "   \
     "discriminator_fake " fake_text " (D's output on generated data), generator "         \
     generator_text " (D's output on generated data)"}

#define GAN_REDUCTION                                                                      \
    LK_PARAM_REDUCTION("mean", "sum divided by the number of outputs (every patch of a "  \
                               "PatchGAN map)")

static const lk_input_info discriminator_output[] = {
    {"input", "the discriminator's output of any shape: (N,), (N, 1), a PatchGAN map "
              "(N, 1, H, W), ... (raw scores, no activation)",
     LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
};

static const lk_param_info lsgan_params[LSGAN_COUNT] = {
    [LSGAN_MODE] = GAN_MODE_PARAM("(D - b)^2", "(D - a)^2", "(D - c)^2"),
    [LSGAN_A] = {"a", LK_PARAM_FLOAT, "0", -INFINITY, INFINITY, 0, NULL,
                 "the discriminator's target for generated data (CycleGAN's target_fake_label)"},
    [LSGAN_B] = {"b", LK_PARAM_FLOAT, "1", -INFINITY, INFINITY, 0, NULL,
                 "the discriminator's target for real data (CycleGAN's target_real_label)"},
    [LSGAN_C] = {"c", LK_PARAM_FLOAT, "1", -INFINITY, INFINITY, 0, NULL,
                 "the value the generator wants the discriminator to give its data"},
    [LSGAN_REDUCTION] = GAN_REDUCTION,
};

static const lk_param_info hinge_params[HINGE_COUNT] = {
    [HINGE_MODE] = GAN_MODE_PARAM("relu(1 - D)", "relu(1 + D)", "-D"),
    [HINGE_REDUCTION] = GAN_REDUCTION,
};

static const lk_param_info cycle_params[CYCLE_COUNT] = {
    [CYCLE_LAMBDA] = {"lambda_cycle", LK_PARAM_FLOAT, "10", 0, INFINITY, 0, NULL,
                      "weight of the L1 term (CycleGAN's lambda_A / lambda_B; 5 for its "
                      "identity loss)"},
    [CYCLE_REDUCTION] = LK_PARAM_REDUCTION("mean", "sum divided by the number of elements"),
};

static const char *const lsgan_examples[] = {
    "",
    "mode=discriminator_real,reduction=sum",
    "mode=discriminator_fake,reduction=none",
    "mode=discriminator_fake,a=-1,b=1,c=0",
    "mode=generator,c=0.5,reduction=sum",
    NULL,
};

static const char *const hinge_examples[] = {
    "",
    "mode=discriminator_real",
    "mode=discriminator_fake,reduction=sum",
    "mode=discriminator_real,reduction=none",
    "mode=generator,reduction=none",
    NULL,
};

static const char *const cycle_examples[] = {
    "",
    "lambda_cycle=5,reduction=sum",
    "lambda_cycle=1,reduction=none",
    "lambda_cycle=0.5",
    NULL,
};

const lk_loss_desc lk_loss_lsgan = {
    .name = "lsgan",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Least-squares GAN loss of the discriminator's output, one term per call (mode)",
    .formula = "loss = (D - target)^2, target = b (discriminator_real), a (discriminator_fake), "
               "c (generator); mean over outputs",
    .reference = "X. Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017",
    .notes = "CycleGAN's GANLoss('lsgan'): mean squared error against the real label b or fake "
             "label a. The paper's 1/2 per term is the caller's (CycleGAN: loss_D = 0.5 (real + "
             "fake)). mode picks the term; one module per term.",
    LK_DESC_INPUTS(discriminator_output),
    LK_DESC_PARAMS(lsgan_params),
    .examples = lsgan_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .compute = lsgan_compute,
};

const lk_loss_desc lk_loss_hinge_gan = {
    .name = "hinge_gan",
    .category = LK_CATEGORY_GENERAL,
    .summary = "Hinge GAN loss (SAGAN, BigGAN) of the discriminator's output, one term per call "
               "(mode)",
    .formula = "discriminator_real: relu(1 - D); discriminator_fake: relu(1 + D); generator: -D; "
               "mean over outputs",
    .reference = "J. H. Lim, J. C. Ye, Geometric GAN, 2017; A. Brock et al., Large Scale GAN "
                 "Training for High Fidelity Natural Image Synthesis, ICLR 2019",
    .notes = "BigGAN-PyTorch's loss_hinge_dis returns the two discriminator terms separately, "
             "each a mean; their sum is the discriminator's loss. Subgradient 0 at the hinge.",
    LK_DESC_INPUTS(discriminator_output),
    LK_DESC_PARAMS(hinge_params),
    .examples = hinge_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .compute = hinge_compute,
};

static const lk_input_info cycle_inputs[] = {
    {"input", "the reconstruction F(G(x)) (or G(y) for the identity loss), any shape, e.g. "
              "images (N, C, H, W)", LK_DTYPES_FLOAT, LK_SHAPE_ANY, LK_DOMAIN_SCORES, 1},
    LK_INPUT_REGRESSION_TARGET("the original x (or y), shaped like input (no gradient)"),
};

const lk_loss_desc lk_loss_cycle_consistency = {
    .name = "cycle_consistency",
    .category = LK_CATEGORY_GENERAL,
    .summary = "CycleGAN's cycle-consistency loss: lambda times the L1 distance between the "
               "reconstruction and the original",
    .formula = "loss = lambda_cycle |F(G(x)) - x|; mean over elements",
    .reference = "J.-Y. Zhu et al., Unpaired Image-to-Image Translation using Cycle-Consistent "
                 "Adversarial Networks, ICCV 2017",
    .notes = "CycleGAN: lambda_A = lambda_B = 10 times torch.nn.L1Loss; the identity loss is the "
             "same with lambda_cycle = 5. Subgradient 0 where the reconstruction equals the "
             "original; the original has no gradient.",
    LK_DESC_INPUTS(cycle_inputs),
    LK_DESC_PARAMS(cycle_params),
    .examples = cycle_examples,
    .output = LK_OUTPUT_PER_ELEMENT,
    .compute = cycle_compute,
};

#endif
