"""disentkit.transfer"""
