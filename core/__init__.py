"""Pneumonia X-ray Explorer: the library (registry, cards, data, models, training, inference, metrics, imaging, figures).

Never imports streamlit. torch is imported only by the modules that need it, so the app's first page starts
without it; the torchvision shim is installed just before whatever first imports torchvision.
"""

from core import torchvision_compat

torchvision_compat.install_on_import()
