"""graytransfer: transfer learning of ImageNet-pretrained backbones onto grayscale images."""

from graytransfer.errors import UserError

__all__ = ["UserError"]
__version__ = "0.1.0"
