"""disentkit.metrics"""
