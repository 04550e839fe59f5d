"""The uplink: client-side quantization and packing of model updates, server-side decoding."""

from ._bitpack import pack_codes, packed_nbytes, unpack_codes
from ._codec import FLOAT_BITS, EncodedUpdate, decode_update, encode_update, encode_updates

__all__ = ["FLOAT_BITS", "EncodedUpdate", "decode_update", "encode_update", "encode_updates", "pack_codes", "packed_nbytes", "unpack_codes"]
