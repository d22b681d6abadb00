"""kdsrl_lobes: reusable SpeechBrain lobes for distilling self-supervised speech
models and fine-tuning the student on several voice tasks."""
