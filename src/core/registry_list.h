/*
 * The registry: one line per loss. A loss defined in its own file as
 * `const lk_loss_desc lk_loss_<name>` appears everywhere (CLI, Python, docs,
 * test sweeps) once it is listed here. Order: the catalogue's order.
 */
LK_LOSS(cross_entropy)
LK_LOSS(weighted_cross_entropy)
LK_LOSS(topk_cross_entropy)
LK_LOSS(focal)
LK_LOSS(binary_cross_entropy)
LK_LOSS(sigmoid_focal)
LK_LOSS(dice)
LK_LOSS(jaccard)
LK_LOSS(log_cosh_dice)
LK_LOSS(tversky)
LK_LOSS(focal_tversky)
LK_LOSS(asymmetric_similarity)
LK_LOSS(generalized_dice)
LK_LOSS(penalty_generalized_dice)
LK_LOSS(generalized_wasserstein_dice)
LK_LOSS(sensitivity_specificity)
LK_LOSS(mcc)
LK_LOSS(lovasz_softmax)
LK_LOSS(lovasz_hinge)
LK_LOSS(rmi)
LK_LOSS(robust_t)
LK_LOSS(hausdorff_erosion)
LK_LOSS(boundary_dou)
