"""The Theory lab: what the vision and sequence labs compute, checked numerically.

conv_matrix.py convolution as a sparse matrix and the parameters weight sharing saves; image_attention.py
self-attention on a flattened image and its blindness to pixel order; linear_attention.py the McLaurin
approximation of softmax attention, its error and its speed; figures.py the plots; cli.py `bench attention`.
"""
