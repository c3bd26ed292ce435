"""disentkit.report"""
