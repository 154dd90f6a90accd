#include "region/overlap.h"

#include <string.h>

double lk_sum_ratio_value(const lk_sum_ratio *ratio, const double *s, double scale, double *ds)
{
    double num = ratio->num0, den = ratio->den0;
    for (int k = 0; k < LK_STATS; k++) {
        num += ratio->num[k] * s[k];
        den += ratio->den[k] * s[k];
    }
    double value = num / den;
    for (int k = 0; ds && k < LK_STATS; k++)
        if (ratio->num[k] != 0 || ratio->den[k] != 0)
            ds[k] += scale * (ratio->num[k] - value * ratio->den[k]) / den;
    return value;
}

static lk_sum_ratio empty_ratio(double smooth_nr, double smooth_dr)
{
    lk_sum_ratio ratio;
    memset(&ratio, 0, sizeof ratio);
    ratio.num0 = smooth_nr;
    ratio.den0 = smooth_dr;
    return ratio;
}

lk_sum_ratio lk_dice_ratio(int squared, double smooth_nr, double smooth_dr)
{
    lk_sum_ratio ratio = empty_ratio(smooth_nr, smooth_dr);
    ratio.num[LK_STAT_PG] = 2;
    ratio.den[squared ? LK_STAT_PP : LK_STAT_P] = 1;
    ratio.den[squared ? LK_STAT_GG : LK_STAT_G] = 1;
    return ratio;
}

lk_sum_ratio lk_jaccard_ratio(int squared, double smooth_nr, double smooth_dr)
{
    lk_sum_ratio ratio = empty_ratio(smooth_nr, smooth_dr);
    ratio.num[LK_STAT_PG] = 1;
    ratio.den[LK_STAT_PG] = -1;
    ratio.den[squared ? LK_STAT_PP : LK_STAT_P] = 1;
    ratio.den[squared ? LK_STAT_GG : LK_STAT_G] = 1;
    return ratio;
}

lk_sum_ratio lk_tversky_ratio(double alpha, double beta, double smooth_nr, double smooth_dr)
{
    lk_sum_ratio ratio = empty_ratio(smooth_nr, smooth_dr);
    ratio.num[LK_STAT_PG] = 1;
    ratio.den[LK_STAT_PG] = 1 - alpha - beta;
    ratio.den[LK_STAT_P] = alpha;
    ratio.den[LK_STAT_G] = beta;
    return ratio;
}
