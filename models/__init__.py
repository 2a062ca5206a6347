"""Model definitions, data and scripts, built only on graphdiff's public API.

``models.digits`` loads the bundled handwritten-digits data; ``models.nets`` defines the digit
classifiers (MLP, LeNet-style CNN, LSTM and GRU over the rows, a pre-LayerNorm transformer
block) from ``graphdiff.nn`` layers; ``models.zoo`` their training recipes; ``models/demo.py``
is the README's demo. Layers, optimizers and the training loop are in the package.
"""
