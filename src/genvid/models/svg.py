"""Stochastic Video Generation (Denton & Fergus 2018, arXiv 1802.07687): SVG-LP, SVG-FP and
the deterministic baseline.

Section 3: each frame x_t is encoded to h_t (DCGAN-64 or VGG-64, `genvid.nn.dcgan`,
`genvid.nn.vgg64`). A frame predictor LSTM reads [h_{t-1}, z_t] and its output, through tanh,
is decoded with the skips of a conditioning frame into x^_t. During training z_t is drawn from
the posterior q(z_t | x_{1:t}), an LSTM on h_t; the KL divergence to the prior is penalised:
to N(0, I) for SVG-FP, to a learned prior p(z_t | x_{1:t-1}), an LSTM on h_{t-1}, for SVG-LP
(variant "lp"). The deterministic baseline has no z and no KL. To generate, z_t is drawn from
the prior and each decoded frame is encoded and fed back.

Loss (`forward`), as the paper's code: sum over the predicted steps t = 1..T-1 of the mean
squared error of x^_t (mean over pixels, colours and batch) + beta * sum over steps of
KL(q || p) (summed over z's dimensions, mean over the batch). The MSE is a per-pixel mean and
the KL a per-example sum, so beta trades the two at this scale: loss / beta is the negative
ELBO (up to a constant) of a Gaussian decoder with variance beta * D / 2, D = C * 64 * 64
(0.2 for one channel at the paper's beta = 1e-4). Porting beta to a per-sequence sum of squared
errors means dividing it by D. Every frame after the first is scored, the context frames
1..context_frames-1 too, with teacher forcing (the code's `train`).

Skips: step t reads the skips of frame min(t - 1, context_frames - 1) ("last", the paper's
"last ground-truth frame"), or of frame t - 1 ("previous", the code's `--last_frame_skip`).
Generation reads the last context frame's skips, or the previous (generated) frame's.

Deviations:
- The encoder runs once over all B*T frames of a batch and the decoder once over all B*(T-1)
  predictions; only the LSTMs step through time (teacher forcing makes this exact). Batch-norm
  statistics are therefore taken over all frames of the batch at once, not per time step, and
  in training mode a frame's normalisation depends on the batch's other frames, later ones too.
  In eval mode the batched path equals a per-frame loop exactly (tested).
- The paper's code updates the skips only while t < context_frames, so its predictions read
  the skips of frame context_frames - 2, not of the last context frame its text names; we
  follow the text.
- Generation uses the mode its caller sets (eval); the code's generation script samples with
  the encoder and decoder in training mode (batch statistics of the generated batch).
- `hidden_channels` (the paper's 64) scales the frame networks; the deterministic variant is
  this model without z (the repository has no script for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from genvid.configcheck import check_field_types
from genvid.nn.dcgan import DCGANDecoder, DCGANEncoder, init_dcgan_weights
from genvid.nn.lstm import DeterministicLSTM, GaussianLSTM, LSTMState, reparameterize
from genvid.nn.vgg64 import VGGDecoder, VGGEncoder

FRAME_SIZE = 64  # both backbones take 64x64 frames
BACKBONES = {"dcgan": (DCGANEncoder, DCGANDecoder), "vgg": (VGGEncoder, VGGDecoder)}
Gaussian = tuple[Tensor, Tensor]  # (mu, logvar) of a diagonal Gaussian, each [B, z_dim]
State = tuple[LSTMState, LSTMState | None, LSTMState | None]  # predictor, posterior, prior


@dataclass(frozen=True)
class SVGConfig:
    variant: Literal["lp", "fp", "deterministic"] = "lp"  # learned prior, N(0, I) prior, no z
    backbone: Literal["dcgan", "vgg"] = "dcgan"  # frame networks: DCGAN-64 or VGG-64
    channels: Literal[1, 3] = 1  # colours of a frame
    hidden_channels: int = 64  # maps of the frame networks' first stage (x2 per stage)
    g_dim: int = 128  # |h|: the encoder's vector, the predictor's output
    z_dim: int = 10  # |z|: latent variables per time step (unused by "deterministic")
    rnn_size: int = 256  # cells of every LSTM layer (and width of their embeddings)
    predictor_layers: int = 2  # LSTM layers of the frame predictor
    posterior_layers: int = 1  # LSTM layers of the posterior q(z_t | x_{1:t})
    prior_layers: int = 1  # LSTM layers of the learned prior p(z_t | x_{1:t-1}) ("lp")
    beta: float = 1e-4  # weight of the KL term against the per-pixel MSE (module docstring)
    context_frames: int = 5  # conditioning frames (the paper's n_past)
    future_frames: int = 10  # frames predicted after them in training (n_future)
    skip: Literal["last", "previous"] = "last"  # skips of the last context / previous frame

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in (
            "hidden_channels",
            "g_dim",
            "z_dim",
            "rnn_size",
            "predictor_layers",
            "posterior_layers",
            "prior_layers",
            "context_frames",
            "future_frames",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"SVGConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"SVGConfig.beta must be finite and >= 0, got {self.beta}")


class Unrolled(NamedTuple):
    """A teacher-forced pass over a video of T frames (`SVG.unroll`)."""

    frames: Tensor  # predictions of frames 1..T-1 in [0, 1], [B, T-1, C, 64, 64]
    posterior: Gaussian | None  # q's (mu, logvar) at steps 1..T-1, each [B, T-1, z_dim]
    prior: Gaussian | None  # the learned prior's, likewise ("lp" only)


def kl_diagonal_gaussians(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) of each dimension, in nats.

    Shape: four broadcastable tensors -> their broadcast shape.
    """
    ratio = torch.exp(logvar_q - logvar_p)  # var_q / var_p
    return 0.5 * (ratio + (mu_q - mu_p).square() * torch.exp(-logvar_p) - 1 - (logvar_q - logvar_p))


def _stack_in_time(params: list[Gaussian | None]) -> Gaussian | None:
    """Per-step (mu, logvar) pairs `[B, z_dim]` stacked to `[B, steps, z_dim]` each."""
    if params[0] is None:
        return None
    mu, logvar = zip(*params, strict=True)
    return torch.stack(mu, dim=1), torch.stack(logvar, dim=1)


class SVG(nn.Module):
    """SVG-LP, SVG-FP or the deterministic baseline over uint8 videos `[B, T, C, 64, 64]`."""

    def __init__(self, config: SVGConfig) -> None:
        super().__init__()
        self.config = config
        encoder, decoder = BACKBONES[config.backbone]
        width = config.hidden_channels
        self.encoder = encoder(config.channels, config.g_dim, hidden_channels=width)
        self.decoder = decoder(config.g_dim, config.channels, hidden_channels=width)
        stochastic = config.variant != "deterministic"
        self.predictor = DeterministicLSTM(
            config.g_dim + (config.z_dim if stochastic else 0),
            config.g_dim,
            hidden_size=config.rnn_size,
            num_layers=config.predictor_layers,
        )

        def gaussian(layers: int) -> GaussianLSTM:
            return GaussianLSTM(
                config.g_dim, config.z_dim, hidden_size=config.rnn_size, num_layers=layers
            )

        self.posterior = gaussian(config.posterior_layers) if stochastic else None
        self.prior = gaussian(config.prior_layers) if config.variant == "lp" else None
        for net in (self.predictor, self.posterior, self.prior):
            if net is not None:  # the paper's code initialises the LSTMs' linear layers too
                init_dcgan_weights(net)

    # -- input ------------------------------------------------------------------------------
    def _check(
        self, video: Tensor, name: str, *, frames: int | None = None, least: int = 1
    ) -> None:
        """Raise one line unless `video` is uint8 `[B, T, C, 64, 64]` with the right T."""
        shape = (self.config.channels, FRAME_SIZE, FRAME_SIZE)
        ok = video.dtype == torch.uint8 and video.dim() == 5 and tuple(video.shape[2:]) == shape
        ok = ok and video.shape[0] >= 1
        ok = ok and (video.shape[1] == frames if frames is not None else video.shape[1] >= least)
        if not ok:
            want = frames if frames is not None else f"T >= {least}"
            raise ValueError(
                f"SVG needs {name} as uint8 [B, {want}, {self.config.channels}, {FRAME_SIZE}, "
                f"{FRAME_SIZE}], got {video.dtype} {tuple(video.shape)}"
            )

    def _scale(self, video: Tensor) -> Tensor:
        """uint8 to [0, 1] in the parameters' dtype."""
        return video.to(self.predictor.embed.weight.dtype) / 255.0

    # -- one time step ----------------------------------------------------------------------
    def _initial_state(self, like: Tensor) -> State:
        nets = (self.predictor, self.posterior, self.prior)
        return tuple(None if net is None else net.initial_state(like) for net in nets)

    def _step(
        self,
        previous: Tensor,
        target: Tensor | None,
        state: State,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Gaussian | None, Gaussian | None, State]:
        """The predictor's output (tanh'd, `[B, g_dim]`) for the frame after `previous`.

        z is drawn from the posterior on `target`, the encoding of the true frame, when there
        is one (training; the context in generation), else from the prior. The learned prior
        reads `previous` at every step, so its state is current whichever one drives z.

        Returns: the output, q's and p's (mu, logvar) (None where not computed), the new state.
        """
        predictor_state, posterior_state, prior_state = state
        q = p = None
        inputs = [previous]
        if self.prior is not None:
            mu_p, logvar_p, prior_state = self.prior(previous, prior_state)
            p = (mu_p, logvar_p)
        if self.posterior is not None:
            if target is not None:
                mu_q, logvar_q, posterior_state = self.posterior(target, posterior_state)
                q = (mu_q, logvar_q)
            # After the context SVG-FP draws from its fixed prior N(0, I).
            mu, logvar = q or p or (previous.new_zeros(len(previous), self.config.z_dim),) * 2
            inputs.append(reparameterize(mu, logvar, generator=generator))
        out, predictor_state = self.predictor(torch.cat(inputs, dim=1), predictor_state)
        # The predictor ends in tanh (section 3), like the encoder: g stays in (-1, 1).
        return torch.tanh(out), q, p, (predictor_state, posterior_state, prior_state)

    def _skip_frames(self, frames: int) -> list[int]:
        """The frame whose skips the decoder reads at each step 1..frames-1 of training."""
        last = self.config.context_frames - 1
        if self.config.skip == "previous":
            return list(range(frames - 1))
        return [min(t - 1, last) for t in range(1, frames)]

    # -- training ---------------------------------------------------------------------------
    def unroll(self, video: Tensor, *, generator: torch.Generator | None = None) -> Unrolled:
        """Teacher-forced pass: every frame after the first predicted from the true frames before
        it (and z from the posterior, which also sees the frame itself).

        The encoder runs once over all B*T frames and the decoder once over all B*(T-1)
        predictions; only the LSTMs step through time.

        Args:
            video: uint8 `[B, T, C, 64, 64]`, T >= 2.
            generator: source of the posterior's noise (torch's global generator if None).
        """
        self._check(video, "video", least=2)
        b, frames = video.shape[:2]
        h, skips = self.encoder(self._scale(video).flatten(0, 1))  # (B*T, g_dim), 4 maps
        encodings = h.unflatten(0, (b, frames)).unbind(1)  # T x (B, g_dim)
        state = self._initial_state(encodings[0])
        outputs, posterior, prior = [], [], []
        for t in range(1, frames):
            out, q, p, state = self._step(encodings[t - 1], encodings[t], state, generator)
            outputs.append(out)
            posterior.append(q)
            prior.append(p)
        index = torch.tensor(self._skip_frames(frames), device=video.device)
        skips = [s.unflatten(0, (b, frames))[:, index].flatten(0, 1) for s in skips]
        g = torch.stack(outputs, dim=1).flatten(0, 1)  # (B*(T-1), g_dim)
        predicted = self.decoder(g, skips).unflatten(0, (b, frames - 1))  # (B, T-1, C, H, W)
        return Unrolled(predicted, _stack_in_time(posterior), _stack_in_time(prior))

    def forward(self, batch: Tensor) -> dict[str, Tensor]:
        """Training loss on uint8 videos `[B, context_frames + future_frames, C, 64, 64]`.

        Returns: scalars "loss" = mse + beta * kl; "mse", the per-pixel mean squared error
        summed over the T-1 predicted steps; "kl", KL(q || p) summed over z and over the steps,
        averaged over the batch (0 for the deterministic variant).
        """
        frames = self.config.context_frames + self.config.future_frames
        self._check(batch, "batch", frames=frames)
        out = self.unroll(batch)
        target = self._scale(batch[:, 1:])  # (B, T-1, C, H, W)
        # In the parameters' dtype: under bf16 autocast the networks' outputs are bf16.
        dtype = target.dtype
        mse = (out.frames.to(dtype) - target).square().mean(dim=(0, 2, 3, 4)).sum()
        kl = mse.new_zeros(())
        if out.posterior is not None:
            mu_q, logvar_q = (v.to(dtype) for v in out.posterior)
            mu_p, logvar_p = (
                (v.to(dtype) for v in out.prior)
                if out.prior is not None
                else (torch.zeros_like(mu_q),) * 2  # SVG-FP: N(0, I)
            )
            kl = kl_diagonal_gaussians(mu_q, logvar_q, mu_p, logvar_p).sum(dim=2).mean(dim=0).sum()
        loss = mse + self.config.beta * kl
        return {"loss": loss, "mse": mse.detach(), "kl": kl.detach()}

    # -- generation -------------------------------------------------------------------------
    @torch.no_grad()
    def predict(
        self, context: Tensor, steps: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """Continue each video of `context` by `steps` frames.

        Through the context, z comes from the posterior on the true next frame (the paper's
        generation code) while the learned prior's LSTM reads along; after it, z is drawn from
        the prior (learned, or N(0, I)) and every decoded frame is encoded and fed back. Call it
        in eval mode; the mode is the caller's.

        Args:
            context: uint8 `[B, Tc, C, 64, 64]`, Tc >= 1.
            steps: frames to generate.
            generator: source of every draw of z (on the model's device; global if None).

        Returns: uint8 `[B, steps, C, 64, 64]`.
        """
        self._check(context, "context")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        b, given = context.shape[:2]
        h, skips = self.encoder(self._scale(context).flatten(0, 1))  # (B*Tc, g_dim), 4 maps
        encodings = h.unflatten(0, (b, given)).unbind(1)  # Tc x (B, g_dim)
        state = self._initial_state(encodings[0])
        for t in range(1, given):
            *_, state = self._step(encodings[t - 1], encodings[t], state, generator)
        skip = [s.unflatten(0, (b, given))[:, -1] for s in skips]  # the last context frame's
        previous, frames = encodings[-1], []
        for k in range(steps):
            if k:  # the generated frame, fed back as it is decoded (not quantised)
                previous, new_skips = self.encoder(frames[-1])
                if self.config.skip == "previous":
                    skip = new_skips
            g, _, _, state = self._step(previous, None, state, generator)
            frames.append(self.decoder(g, skip))  # (B, C, H, W) in [0, 1]
        return (torch.stack(frames, dim=1) * 255).round().to(torch.uint8)
