"""The hiring-screen worked example, end to end: a fine-tuning set with a known skew, fine-tuning
SmolLM2-135M-Instruct on it, measuring, mitigating, re-measuring, gating and promoting.

May import every layer but `cli`.
"""
