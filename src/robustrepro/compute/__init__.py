"""Where tensors live: choosing the device, sharing a node's GPUs, the dataset resident on the device.

Below selection, training and evaluation, which all place models and data through it.
"""
