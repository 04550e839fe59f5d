"""A small GAN over network conditions (the "experience" of Kasgari et al., reconstructed).

A condition is a vector of what a user's traffic and channel looked like over a window (here:
log arrival rate and the channel's offset in dB). The generator maps Gaussian noise to conditions;
trained against a discriminator on recorded real ones, it reproduces their distribution, and
driven with wider noise (``spread`` > 1) it extrapolates to the extreme conditions the network
has not yet shown: traffic surges and deep fades. Non-saturating GAN loss, Adam, seeded.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fedsim.rl._dqn_core import one_thread
from fedsim.torch_rng import torch_stream


def _mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, outputs))


class ConditionGAN:
    def __init__(self, dim: int, *, latent: int = 4, hidden: int = 32, seed: int = 0) -> None:
        self.dim, self.latent, self.seed = dim, latent, int(seed)
        torch_state = torch_stream(seed, "gan-init")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=torch_state)))
            self.generator = _mlp(latent, dim, hidden)
            self.discriminator = _mlp(dim, 1, hidden)
        self.mean = np.zeros(dim)
        self.scale = np.ones(dim)

    def fit(self, real: np.ndarray, *, steps: int = 1500, batch: int = 64, lr: float = 2e-3) -> "ConditionGAN":
        """Train on (N, dim) real conditions (standardised inside)."""
        real = np.asarray(real, dtype=float)
        self.mean, self.scale = real.mean(axis=0), real.std(axis=0) + 1e-9
        data = torch.from_numpy(((real - self.mean) / self.scale).astype(np.float32))
        g_opt = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999), foreach=False)
        d_opt = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999), foreach=False)
        gen = torch_stream(self.seed, "gan-training")
        bce = nn.functional.binary_cross_entropy_with_logits
        with one_thread():
            for _ in range(steps):
                idx = torch.randint(0, len(data), (batch,), generator=gen)
                fake = self.generator(torch.randn(batch, self.latent, generator=gen))
                d_loss = bce(self.discriminator(data[idx]), torch.ones(batch, 1)) + bce(self.discriminator(fake.detach()), torch.zeros(batch, 1))
                d_opt.zero_grad()
                d_loss.backward()
                d_opt.step()
                g_loss = bce(self.discriminator(fake), torch.ones(batch, 1))
                g_opt.zero_grad()
                g_loss.backward()
                g_opt.step()
        return self

    def sample(self, count: int, *, spread: float = 1.0, seed: int = 0) -> np.ndarray:
        """(count, dim) generated conditions; ``spread`` scales the noise (>1: extremes)."""
        z = torch.randn(count, self.latent, generator=torch_stream(self.seed, "gan-sample", seed)) * spread
        with torch.no_grad():
            out = self.generator(z).numpy()
        return out * self.scale + self.mean
