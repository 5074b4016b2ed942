"""Documents and figures of one run: the model card (`model_card`) and the
training curves and attention maps (`figures`)."""
