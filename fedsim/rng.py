"""Named random streams: every draw comes from ``(seed, purpose, *keys)``.

Deriving each stream from its purpose and coordinates (device, round, ...) rather than from one
shared generator makes a draw independent of the order in which other draws happen, so the same
seed gives the same ledger however the engine schedules clients. numpy only: torch streams are
in ``fedsim.torch_rng``, so the World (which draws from here) never imports torch.
``StreamFamily`` gives the streams of one purpose, index after index (a round's fading, its
packet errors), with the same draws as ``numpy_stream`` for a fraction of its cost.
"""

from __future__ import annotations

import zlib

import numpy as np


def _purpose_code(purpose: str) -> int:
    # Python's hash() is salted per process; crc32 is stable across processes and machines.
    return zlib.crc32(purpose.encode("utf-8"))


def seed_sequence(seed: int, purpose: str, *keys: int) -> np.random.SeedSequence:
    """The SeedSequence of one named stream."""
    return np.random.SeedSequence([int(seed), _purpose_code(purpose), *(int(k) for k in keys)])


def numpy_stream(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A numpy Generator for ``(seed, purpose, *keys)``."""
    return np.random.default_rng(seed_sequence(seed, purpose, *keys))


# numpy's SeedSequence (hashmix/mix over a pool of 4 uint32 words, then generate_state) and PCG64's
# seeding, restated for StreamFamily: the constants are numpy's, and tests check the results
# against numpy_stream.
_MASK32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_POOL_SIZE = 4
_PCG64_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_MASK128 = (1 << 128) - 1
_BLOCK = 256  # indices whose seeds StreamFamily derives at once


def _uint32_words(value: int) -> list[int]:
    """An entropy integer as SeedSequence splits it: 32-bit words, least significant first."""
    words = [value & _MASK32] if value == 0 else []
    while value > 0:
        words.append(value & _MASK32)
        value >>= 32
    return words


class StreamFamily:
    """The streams ``(seed, purpose, i)`` of one purpose for i = 0, 1, 2, ...: ``at(i)`` is a
    Generator that draws exactly what ``numpy_stream(seed, purpose, i)`` would, for a fraction of
    its cost (a round draws from two such streams: building each took longer than some draws).

    The SeedSequence states of 256 consecutive indices are derived at once (numpy over the
    indices) and one PCG64 is reseeded per call: the Generator returned is the family's only
    one, so draw from it before the next ``at`` (and from one thread). Indices of more than 32
    bits (and seeds of more than 64) go the plain numpy_stream way. Nothing is cached but those
    states, a function of (seed, purpose, index): no state to save or restore.
    """

    def __init__(self, seed: int, purpose: str) -> None:
        self.seed, self.purpose = int(seed), purpose
        self._prefix = [*_uint32_words(self.seed), _purpose_code(purpose)]  # the entropy before the index
        self._bit_generator = np.random.PCG64(0)
        self._generator = np.random.Generator(self._bit_generator)
        self._blocks: dict[int, list[list[int]]] = {}  # block -> the 4 uint64 seed words of each index

    def at(self, index: int) -> np.random.Generator:
        index = int(index)
        if not 0 <= index <= _MASK32 or len(self._prefix) + 1 > _POOL_SIZE:
            return numpy_stream(self.seed, self.purpose, index)
        block, offset = divmod(index, _BLOCK)
        words = self._blocks.get(block)
        if words is None:
            if len(self._blocks) >= 4:  # rounds move on: keep the few blocks in use
                self._blocks.pop(next(iter(self._blocks)))
            words = self._blocks[block] = self._seed_words(block * _BLOCK)
        s_hi, s_lo, i_hi, i_lo = (w[offset] for w in words)
        # pcg64_set_seed: state 0, inc = 2·initseq + 1, step, add initstate, step
        inc = ((((i_hi << 64) | i_lo) << 1) | 1) & _MASK128
        state = (((inc + ((s_hi << 64) | s_lo)) & _MASK128) * _PCG64_MULT + inc) & _MASK128
        self._bit_generator.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}
        return self._generator

    def _seed_words(self, first: int) -> list[list[int]]:
        """``generate_state(4, np.uint64)`` of the SeedSequence of each index in
        [first, first + _BLOCK), as 4 lists (word j of every index): the pool mixing vectorized
        over the indices."""
        with np.errstate(over="ignore"):
            indices = np.arange(first, first + _BLOCK, dtype=np.uint32)
            entropy = [np.full(_BLOCK, w, dtype=np.uint32) for w in self._prefix] + [indices]
            hash_const = _INIT_A

            def hashmix(value: np.ndarray) -> np.ndarray:
                nonlocal hash_const
                value = value ^ np.uint32(hash_const)
                hash_const = (hash_const * _MULT_A) & _MASK32
                value = value * np.uint32(hash_const)
                return value ^ (value >> np.uint32(16))

            def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
                result = np.uint32(_MIX_MULT_L) * x - np.uint32(_MIX_MULT_R) * y
                return result ^ (result >> np.uint32(16))

            zeros = np.zeros(_BLOCK, dtype=np.uint32)
            pool = [hashmix(entropy[i] if i < len(entropy) else zeros) for i in range(_POOL_SIZE)]
            for src in range(_POOL_SIZE):
                for dst in range(_POOL_SIZE):
                    if src != dst:
                        pool[dst] = mix(pool[dst], hashmix(pool[src]))
            # generate_state(4, uint64): 8 words from the pool, paired little-endian
            words, hash_b = [], _INIT_B
            for i in range(8):
                value = pool[i % _POOL_SIZE] ^ np.uint32(hash_b)
                hash_b = (hash_b * _MULT_B) & _MASK32
                value = value * np.uint32(hash_b)
                words.append((value ^ (value >> np.uint32(16))).astype(np.uint64))
        return [(words[2 * j] | (words[2 * j + 1] << np.uint64(32))).tolist() for j in range(4)]
