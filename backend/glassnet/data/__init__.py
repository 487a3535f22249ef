"""Data for glassnet: the MNIST IDX reader and MNIST-style preparation of drawn digits.

``mnist`` reads the four IDX files into arrays and splits them into train / validation /
test sets of activations in 0..1 (a pixel is an input neuron; its brightness is its
activation). ``preprocess`` turns a user's image into a 28x28 grid prepared the way MNIST
was: ink bright on a dark background, fitted into 20x20, centred by its centre of mass.
"""
