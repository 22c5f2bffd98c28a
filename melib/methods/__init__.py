"""Methods as the training harness runs them: presets, datasets over the front-end cache, the paper tables."""
