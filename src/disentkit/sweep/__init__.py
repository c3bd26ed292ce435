"""disentkit.sweep"""
