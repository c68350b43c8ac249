"""Quartet's learning core: sampling, reward rounds and policy rounds on plain data and paths.

Never imports Django; the web app reaches it through Celery tasks. Submodules import torch, so
this package's top level stays empty to keep `import training` cheap.
"""
