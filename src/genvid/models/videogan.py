"""A video GAN: an LSTM moves a noise vector frame to frame, a DCGAN turns each into a frame.

The generator follows the TensorFlow video GAN this project answers: noise z_1 ~ N(0, I); an
LSTM maps the noise vector of frame t to that of frame t+1 (z_{t+1} = W h_t, h_t = LSTM(z_t));
a DCGAN frame generator with layer norm (`genvid.nn.dcgan.DCGANGenerator`) turns every z_t into
a 64x64 frame, all frames of the batch in one call. The critic is VGAN's 3-D convolutional
discriminator without batch norm (`genvid.nn.critic3d`). Trained by the one `fit` with
`genvid.train.adversarial.AdversarialUpdate`: groups "critic", "frame_generator" and "lstm",
each with its own optimiser from this config (the preset's recipe).

Losses (s = the critic's score; D = sigmoid(s) for the classic losses):
- "wgan-gp" (Gulrajani et al. 2017): critic E[s(fake)] - E[s(real)] + gp_weight * GP,
  generator -E[s(fake)]; GP = E[(||grad_x s(x_hat)|| - 1)^2] at x_hat = eps real + (1-eps) fake.
- "minimax" (Goodfellow et al. 2014): critic -E[log D(real)] - E[log(1 - D(fake))], generator
  E[log(1 - D(fake))] (saturates when the critic wins).
- "non-saturating": the same critic, generator -E[log D(fake)].
The penalty applies to any loss with gp_weight > 0 (the WGAN-GP presets only, by default).

The seed's tricks, each switchable here: white noise on the generator's input (`input_noise`),
instance noise on the critic's inputs, real and fake (`instance_noise`), more critic steps
early (`warmup_*`), training each network until its loss passes a threshold (`switch`), Glorot
initialisation (`init`), SGD with momentum for the LSTM, per-tensor clipping (a training
option: `--grad-clip-mode tensor`).

Frames are scaled from uint8 to [-1, 1]; clips are the first `frames` frames of the data's
sequences; generated clips come back as uint8 `[N, T, C, 64, 64]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genvid.configcheck import check_field_types
from genvid.nn.critic3d import VideoCritic
from genvid.nn.dcgan import DCGANGenerator

Loss = Literal["wgan-gp", "minimax", "non-saturating"]
Optimizer = Literal["adam", "sgd", "rmsprop"]


@dataclass(frozen=True)
class VideoGANConfig:
    channels: int = 1  # colours of a frame
    frames: int = 16  # clip length the critic scores and the generator makes
    z_dim: int = 100  # noise vector of each frame
    rnn_size: int = 256  # the LSTM's hidden state
    hidden_channels: int = 64  # frame generator width c (DCGAN: 64)
    critic_channels: int = 64  # critic width (VGAN: 64)
    loss: Loss = "wgan-gp"
    gp_weight: float = 10.0  # gradient-penalty weight lambda (Gulrajani: 10; the seed: 200)
    n_critic: int = 5  # critic steps per generator step
    warmup_generator_steps: int = 0  # generator steps with warmup_n_critic critic steps each
    warmup_n_critic: int = 100  # the seed: 100 critic steps per generator step for the first 25
    switch: Literal["schedule", "threshold"] = "schedule"  # phases by count, or by loss
    critic_threshold: float = 0.0  # "threshold": the critic trains until its loss is below this
    generator_threshold: float = 0.0  # ... and the generator until its loss is below this
    threshold_max_steps: int = 100  # a phase ends after this many steps in any case
    instance_noise: float = 0.0  # std of Gaussian noise on the critic's inputs ([-1, 1] scale)
    input_noise: float = 0.0  # std of white noise added to each frame's noise vector
    init: Literal["dcgan", "glorot"] = "dcgan"  # N(0, 0.02) weights, or Glorot uniform
    critic_optimizer: Optimizer = "adam"
    critic_lr: float = 1e-4
    critic_beta1: float = 0.0  # Adam betas of Gulrajani et al.: (0, 0.9)
    critic_beta2: float = 0.9
    generator_optimizer: Optimizer = "adam"
    generator_lr: float = 1e-4
    generator_beta1: float = 0.0
    generator_beta2: float = 0.9
    lstm_optimizer: Optimizer = "adam"  # the seed: SGD, lr 1e-3, momentum 0.95
    lstm_lr: float = 1e-4
    lstm_momentum: float = 0.95  # SGD and RMSprop only

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.frames < 16:
            raise ValueError(
                f"frames must be >= 16 (the critic halves time 4 times), got {self.frames}"
            )
        for name in ("z_dim", "rnn_size", "hidden_channels", "critic_channels", "n_critic"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("gp_weight", "instance_noise", "input_noise", "warmup_generator_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("critic_lr", "generator_lr", "lstm_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class VideoGAN(nn.Module):
    """Generator (LSTM + DCGAN frame generator) and critic; see the module docstring."""

    phases = {"critic": ("critic",), "generator": ("frame_generator", "lstm")}

    def __init__(self, config: VideoGANConfig) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTMCell(config.z_dim, config.rnn_size)
        self.next_noise = nn.Linear(config.rnn_size, config.z_dim)
        self.frame_generator = DCGANGenerator(
            config.z_dim, config.channels, hidden_channels=config.hidden_channels, norm="layer"
        )
        self.critic = VideoCritic(
            config.channels, config.frames, hidden_channels=config.critic_channels
        )
        if config.init == "glorot":
            glorot_init(self)
        else:
            for layer in self.critic.modules():
                if isinstance(layer, nn.Conv3d):
                    nn.init.normal_(layer.weight, 0.0, 0.02)
                    nn.init.zeros_(layer.bias)

    @property
    def double_backward(self) -> bool:
        """Whether an update differentiates a gradient (the gradient penalty): torch.compile's
        AOTAutograd cannot, so `fit` refuses `compile` for such a model."""
        return self.config.gp_weight > 0

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "critic": list(self.critic.parameters()),
            "frame_generator": list(self.frame_generator.parameters()),
            "lstm": [*self.lstm.parameters(), *self.next_noise.parameters()],
        }

    def draw(self, n: int, phase: str, generator: torch.Generator) -> dict[str, Tensor]:
        """The random tensors of one step for `n` clips, from `generator` (CPU)."""
        c = self.config
        drawn = {"z": torch.randn(n, c.z_dim, generator=generator)}
        if c.input_noise:
            drawn["input_noise"] = torch.randn(n, c.frames, c.z_dim, generator=generator)
        clip = (n, c.channels, c.frames, 64, 64)
        if c.instance_noise:
            drawn["fake_noise"] = torch.randn(clip, generator=generator)
            if phase == "critic":
                drawn["real_noise"] = torch.randn(clip, generator=generator)
        if phase == "critic" and c.gp_weight:
            drawn["eps"] = torch.rand(n, generator=generator)
        return drawn

    def generate_clips(self, z: Tensor, input_noise: Tensor | None = None) -> Tensor:
        """Noise `[N, z_dim]` -> clips `[N, C, T, 64, 64]` in (-1, 1) (the critic's layout)."""
        noise = [z]
        state = None
        for _ in range(self.config.frames - 1):
            state = self.lstm(noise[-1], state)
            noise.append(self.next_noise(state[0]))
        vectors = torch.stack(noise, dim=1)  # (N, T, z_dim)
        if input_noise is not None:
            vectors = vectors + self.config.input_noise * input_noise
        frames = self.frame_generator(vectors.flatten(0, 1))  # all frames in one call
        return frames.unflatten(0, vectors.shape[:2]).transpose(1, 2)  # (N, C, T, H, W)

    def forward(self, batch: Tensor, *, phase: str, draws: dict[str, Tensor]) -> dict[str, Tensor]:
        """The loss of one phase ("critic" or "generator") on uint8 real clips `batch`
        `[B, T', C, 64, 64]` (T' >= frames), with the random tensors of `draw`."""
        c = self.config
        if batch.dim() != 5 or batch.shape[1] < c.frames or batch.shape[2] != c.channels:
            raise ValueError(
                f"the video GAN wants uint8 clips [B, >={c.frames}, {c.channels}, 64, 64], "
                f"got {tuple(batch.shape)}"
            )
        if phase == "critic":
            with torch.no_grad():
                fake = self.generate_clips(draws["z"], draws.get("input_noise"))
            real = batch[:, : c.frames].transpose(1, 2).float() / 127.5 - 1.0
            return self._critic_loss(real, fake, draws)
        if phase == "generator":
            fake = self.generate_clips(draws["z"], draws.get("input_noise"))
            score = self.critic(self._noised(fake, draws.get("fake_noise"))).float()
            return {"loss": generator_loss(score, c.loss), "score_fake": score.mean().detach()}
        raise ValueError(f"phase must be 'critic' or 'generator', got {phase!r}")

    def _critic_loss(
        self, real: Tensor, fake: Tensor, draws: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        c = self.config
        real = self._noised(real, draws.get("real_noise"))
        fake = self._noised(fake.to(real.dtype), draws.get("fake_noise"))
        inputs = [real, fake]
        if c.gp_weight:
            eps = draws["eps"].view(-1, 1, 1, 1, 1).to(real.dtype)
            inputs.append((eps * real + (1 - eps) * fake).requires_grad_(True))
        scores = self.critic(torch.cat(inputs)).float()  # one call: no batch statistics
        b = len(real)
        s_real, s_fake = scores[:b], scores[b : 2 * b]
        out = critic_loss(s_real, s_fake, c.loss)
        if c.gp_weight:
            penalty = gradient_penalty(scores[2 * b :], inputs[2])
            out["gradient_penalty"] = penalty.detach()
            out["loss"] = out["loss"] + c.gp_weight * penalty
        return out

    def _noised(self, clips: Tensor, noise: Tensor | None) -> Tensor:
        if noise is None:
            return clips
        return clips + self.config.instance_noise * noise.to(clips.dtype)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """`n` generated clips, uint8 `[n, T, C, 64, 64]`."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.z_dim, generator=generator, device=device)
        clips = self.generate_clips(z).transpose(1, 2)  # (n, T, C, H, W)
        return ((clips.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def critic_loss(s_real: Tensor, s_fake: Tensor, loss: Loss) -> dict[str, Tensor]:
    """The critic's loss (minimised) from its scores of real and fake clips."""
    if loss == "wgan-gp":
        distance = s_real.mean() - s_fake.mean()  # the critic's estimate of W(real, fake)
        return {"loss": -distance, "wasserstein": distance.detach()}
    # -log D(real) - log(1 - D(fake)), D = sigmoid(s)
    value = F.softplus(-s_real).mean() + F.softplus(s_fake).mean()
    return {"loss": value, "d_real": torch.sigmoid(s_real).mean().detach()}


def generator_loss(s_fake: Tensor, loss: Loss) -> Tensor:
    """The generator's loss (minimised) from the critic's scores of its clips."""
    if loss == "wgan-gp":
        return -s_fake.mean()
    if loss == "minimax":
        return -F.softplus(s_fake).mean()  # log(1 - D(fake))
    return F.softplus(-s_fake).mean()  # -log D(fake)


def gradient_penalty(scores: Tensor, points: Tensor) -> Tensor:
    """E[(||d score / d point|| - 1)^2] over the examples, differentiable (double backward)."""
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    grad = grad.to(torch.promote_types(grad.dtype, torch.float32))  # bf16 up, float64 kept
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def glorot_init(module: nn.Module) -> None:
    """Glorot (Xavier) uniform weights and zero biases for every convolution, linear and LSTM
    layer (the seed's initialisation; an LSTM cell's biases are `bias_ih` and `bias_hh`); the
    norms' scales keep the initialisation they had."""
    for name, param in module.named_parameters():
        if param.dim() > 1:
            nn.init.xavier_uniform_(param)
        elif name.rsplit(".", 1)[-1].startswith("bias"):
            nn.init.zeros_(param)
