"""disentkit.train"""
