"""Exact, vectorised codecs: values <-> RGB. numpy in, numpy out."""

from vb_plugins.codecs._modes import MODES as DECODE_MODES
from vb_plugins.codecs._modes import decode_mode
from vb_plugins.codecs.base import Decoding
from vb_plugins.codecs.colors import format_colour, palette, parse_class_colours, parse_colour
from vb_plugins.codecs.depth import DepthCodec, DepthCurve, DepthDecoding
from vb_plugins.codecs.instance import InstanceCodec, InstanceDecoding
from vb_plugins.codecs.normals import NormalsCodec, NormalsDecoding, convert_normals, from_lub, to_lub
from vb_plugins.codecs.referring import ReferringCodec, ReferringDecoding
from vb_plugins.codecs.schemes import ColorScheme, PolylineScheme, colormap_scheme
from vb_plugins.codecs.semantic import SemanticCodec, SemanticDecoding, permuted_legends, vote_labels

__all__ = [
    "ColorScheme", "PolylineScheme", "colormap_scheme",
    "DepthCodec", "DepthCurve", "DepthDecoding",
    "NormalsCodec", "NormalsDecoding", "convert_normals", "to_lub", "from_lub",
    "SemanticCodec", "SemanticDecoding", "permuted_legends", "vote_labels",
    "InstanceCodec", "InstanceDecoding",
    "ReferringCodec", "ReferringDecoding",
    "parse_colour", "parse_class_colours", "format_colour", "palette",
    "Decoding", "decode_mode", "DECODE_MODES",
]
