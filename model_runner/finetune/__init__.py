"""LoRA fine-tuning of the shared base model on a group's sentences (see `trainer.py`)."""
