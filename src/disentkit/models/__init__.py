"""disentkit.models"""
