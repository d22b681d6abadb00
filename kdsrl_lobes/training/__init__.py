"""What only training needs: the distillation loss, the recipes' Brain skeleton
and LR schedule, optimiser construction, task-batch interleaving, crops, the
teacher-target cache, the kill-safe checkpointer and its config guard, and
reading hparams before building them."""
