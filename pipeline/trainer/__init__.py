"""TFX Trainer user code. TFX packages this whole folder into a wheel, so ``run_fn.py`` stays alone here."""
