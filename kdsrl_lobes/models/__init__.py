"""What gets deployed: the SSL encoder lobe (teacher, student, fine-tuned
encoder), the student builder, the task and prediction heads, pooling, padding
masks, and the transformers configs of the embedded and BASE shapes."""
