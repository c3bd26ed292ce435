"""disentkit.fragments"""
