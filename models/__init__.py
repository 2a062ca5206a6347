"""Models and training built only on graphdiff's public API.

``models.digits`` loads the bundled handwritten-digits data; ``models.nn`` holds the layers and
models (MLP, LeNet-style CNN, unrolled LSTM, pre-LayerNorm transformer block); ``models.train`` the
training loop (the optimizers are ``graphdiff.optim``). ``models/demo.py`` is the
README's demo.
"""
