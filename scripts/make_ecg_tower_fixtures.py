#!/usr/bin/env python3
"""Parity fixtures for the ECG-R1 signal path: the ECG-CoCa time-series tower and the
`mlp2x_gelu` projector (DESIGN.md section 2), as a PyTorch reference defined here from the
description, with tiny random weights saved under the checkpoint's tensor names.

Writes tests/fixtures/model/ecg-tower-tiny/<case>/{model.safetensors, config.json,
reference.safetensors[, case.json]}. Deterministic: fixed seeds, pinned versions
(scripts/requirements-ecg-tower.txt).

`--bench` instead times the reference tower + projector at the real ECG-R1-8B shapes
(width 768, 12 blocks, projector 768 -> 4096 -> 4096) with random weights on the CPU and prints
one JSON line; engine/examples/ecg_tower_bench.rs runs it as its baseline.
"""

import argparse
import json
import pathlib
import time
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "model" / "ecg-tower-tiny"

# ECG-CoCa's head width: heads = width / 64.
HEAD_WIDTH = 64

# Lead order the model was trained on (MIMIC-IV-ECG): aVF before aVL.
TRAINING_ORDER = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]


class ResidualBlock(nn.Module):
    """Pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). Works on [L, N, D] like the
    open_clip `Transformer` ECG-CoCa uses (nn.MultiheadAttention with batch_first=False)."""

    def __init__(self, width, heads, mlp_width):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=1e-5)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, mlp_width)),
                    ("gelu", nn.GELU()),
                    ("c_proj", nn.Linear(mlp_width, width)),
                ]
            )
        )

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, depth, heads, mlp_width):
        super().__init__()
        self.resblocks = nn.ModuleList(
            [ResidualBlock(width, heads, mlp_width) for _ in range(depth)]
        )

    def forward(self, x):
        x = x.transpose(0, 1)  # [N, L, D] -> [L, N, D]
        for block in self.resblocks:
            x = block(x)
        return x.transpose(0, 1)


class EcgTower(nn.Module):
    """Conv1d patches -> class token -> learned positions -> ln_pre -> blocks. The output is
    every token before ln_post/proj (what ECG-R1 feeds its projector); ln_post and proj exist
    only so the checkpoint carries them."""

    def __init__(self, leads, patch, tokens, width, depth, mlp_width, pooled_dim):
        super().__init__()
        assert width % HEAD_WIDTH == 0
        self.conv1 = nn.Conv1d(leads, width, kernel_size=patch, stride=patch, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(tokens, width))
        self.ln_pre = nn.LayerNorm(width, eps=1e-5)
        self.transformer = Transformer(width, depth, width // HEAD_WIDTH, mlp_width)
        self.ln_post = nn.LayerNorm(width, eps=1e-5)
        self.proj = nn.Parameter(scale * torch.randn(width, pooled_dim))

    def forward(self, signal):
        x = self.conv1(signal).permute(0, 2, 1)  # [B, tokens - 1, width]
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        return self.transformer(self.ln_pre(x))


def projector(width, hidden):
    """`mlp2x_gelu`: Linear -> GELU (exact) -> Linear, indices 0 and 2 in the checkpoint."""
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, hidden))


class Inner(nn.Module):
    def __init__(self, tower, proj):
        super().__init__()
        self.ecg_tower = tower
        self.ecg_projector = proj


class Checkpoint(nn.Module):
    """Only there so state_dict() names read `model.ecg_tower.*` / `model.ecg_projector.*`."""

    def __init__(self, tower, proj):
        super().__init__()
        self.model = Inner(tower, proj)


def randomise_norms(module, gen):
    # Default LayerNorm weights are 1/0, which would hide a swapped weight/bias.
    for m in module.modules():
        if isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def build(seed, leads, patch, tokens, width, depth, mlp_width, hidden):
    torch.manual_seed(seed)
    tower = EcgTower(leads, patch, tokens, width, depth, mlp_width, pooled_dim=16)
    proj = projector(width, hidden)
    ckpt = Checkpoint(tower, proj).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    randomise_norms(ckpt, gen)
    # Attention biases default to zero in nn.MultiheadAttention; give them values too.
    with torch.no_grad():
        for block in tower.transformer.resblocks:
            block.attn.in_proj_bias.copy_(0.1 * torch.randn(3 * width, generator=gen))
            block.attn.out_proj.bias.copy_(0.1 * torch.randn(width, generator=gen))
    return ckpt


def synthetic_record(n, rate):
    """A real-looking 12-lead ECG in microvolts: 75 bpm PQRST complexes built from Gaussians,
    per-lead amplitudes roughly as on a normal ECG, slow baseline wander and a little noise."""
    rng = np.random.default_rng(20261123)
    t = np.arange(n) / rate
    waves = [  # (offset s, width s, amplitude uV) for P, Q, R, S, T
        (-0.20, 0.025, 120.0),
        (-0.03, 0.010, -100.0),
        (0.0, 0.012, 1000.0),
        (0.03, 0.012, -250.0),
        (0.25, 0.045, 300.0),
    ]
    # Per-lead scale of each wave, display order I, II, III, aVR, aVL, aVF, V1..V6.
    gains = {
        "I": (0.8, 0.5, 0.7, 0.3, 0.7),
        "II": (1.0, 0.6, 1.2, 0.4, 1.0),
        "III": (0.4, 0.3, 0.6, 0.5, 0.3),
        "aVR": (-0.9, -0.2, -0.9, -0.2, -0.8),
        "aVL": (0.3, 0.4, 0.3, 0.2, 0.2),
        "aVF": (0.7, 0.4, 0.9, 0.4, 0.6),
        "V1": (0.5, 0.0, 0.3, 3.0, -0.3),
        "V2": (0.6, 0.0, 0.6, 3.5, 1.2),
        "V3": (0.6, 0.2, 1.0, 2.0, 1.3),
        "V4": (0.6, 0.4, 1.5, 1.0, 1.2),
        "V5": (0.6, 0.5, 1.4, 0.5, 1.0),
        "V6": (0.6, 0.5, 1.1, 0.3, 0.8),
    }
    beats = np.arange(0.4, t[-1] + 1.0, 0.8)
    leads = {}
    for k, (name, g) in enumerate(gains.items()):
        x = np.zeros(n)
        for b in beats:
            for (off, wid, amp), gi in zip(waves, g):
                x += gi * amp * np.exp(-0.5 * ((t - b - off) / wid) ** 2)
        x += 40.0 * np.sin(2 * np.pi * 0.3 * t + k)
        x += rng.normal(0.0, 8.0, n)
        leads[name] = x.astype(np.float32)
    return leads


def model_input_from_record(leads_uv, file_order, samples):
    """The documented model input: training lead order, uV -> mV, non-finite -> 0, zero-pad or
    cut to `samples`. Arithmetic as ModelSignal::from_record: (f64 uV / 1000) rounded to f32."""
    x = np.zeros((len(TRAINING_ORDER), samples), dtype=np.float32)
    for row, name in enumerate(TRAINING_ORDER):
        uv = leads_uv[file_order.index(name)].astype(np.float64)[:samples]
        mv = (uv / 1000.0).astype(np.float32)
        mv[~np.isfinite(mv)] = 0.0
        x[row, : mv.shape[0]] = mv
    return torch.from_numpy(x).unsqueeze(0)


def write_case(name, ckpt, signal, hidden, extra=None, record=None):
    out = OUT / name
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().contiguous().clone() for k, v in ckpt.state_dict().items()}
    save_file(sd, out / "model.safetensors", metadata={"format": "pt"})
    tower, proj = ckpt.model.ecg_tower, ckpt.model.ecg_projector
    with torch.no_grad():
        tokens = tower(signal)
        projected = proj(tokens)
        # Sanity: the f32 reference against the same model in f64.
        t64 = tower.double()(signal.double())
        p64 = proj.double()(t64)
        tower.float()
        proj.float()
    print(
        f"{name}: tokens {tuple(tokens.shape)} projected {tuple(projected.shape)}; "
        f"|f32 - f64| tokens {float((tokens.double() - t64).abs().max()):.2e}, "
        f"projected {float((projected.double() - p64).abs().max()):.2e}; "
        f"max |tokens| {float(tokens.abs().max()):.2f}"
    )
    ref = {"output.tokens": tokens.contiguous(), "output.projected": projected.contiguous()}
    if record is None:
        ref["input.signal"] = signal.contiguous()
    else:
        ref["input.record_uv"] = torch.from_numpy(record)
    save_file(ref, out / "reference.safetensors")
    width = tower.class_embedding.shape[0]
    config = {
        "ecg_hidden_size": width,
        "ecg_projector_type": "mlp2x_gelu",
        "ecg_model_config": "coca_ViT-B-32",
        "text_config": {"hidden_size": hidden},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if extra is not None:
        (out / "case.json").write_text(json.dumps(extra, indent=2) + "\n")


def fixtures():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    # Real signal shape (12 x 5000, patch 50, 101 tokens), width 64 = one head, one block with
    # the real 4x MLP. The input is a synthetic 3 s record in microvolts, leads in display order
    # (aVL before aVF) with one NaN: the test builds ModelSignal::from_record from it, so the
    # reorder, unit change, NaN zeroing and padding are checked end to end.
    ckpt = build(seed=64, leads=12, patch=50, tokens=101, width=64, depth=1, mlp_width=256, hidden=48)
    display = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    rate, n = 500.0, 1500
    leads = synthetic_record(n, rate)
    record = np.stack([leads[name] for name in display])
    record[display.index("V3"), 700] = np.nan
    signal = model_input_from_record(record, display, 5000)
    case = {
        "sample_rate_hz": rate,
        "units": "uV",
        "lead_order": display,
        "note": "input.record_uv rows are these leads; V3 sample 700 is NaN",
    }
    write_case("w64-real", ckpt, signal, hidden=48, extra=case, record=record)

    # Two heads, two blocks, a small signal (12 leads x 250 samples, patch 10 -> 26 tokens) and
    # an MLP of 1x width, so nothing can come from constants; a batch of two random signals.
    ckpt = build(seed=128, leads=12, patch=10, tokens=26, width=128, depth=2, mlp_width=64, hidden=32)
    gen = torch.Generator().manual_seed(129)
    signal = 0.5 * torch.randn(2, 12, 250, generator=gen)
    write_case("w128-small", ckpt, signal, hidden=32)


def bench(runs, threads):
    if threads > 0:
        torch.set_num_threads(threads)
    ckpt = build(seed=768, leads=12, patch=50, tokens=101, width=768, depth=12, mlp_width=3072, hidden=4096)
    tower, proj = ckpt.model.ecg_tower, ckpt.model.ecg_projector
    signal = torch.randn(1, 12, 5000, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        proj(tower(signal))  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            out = proj(tower(signal))
            times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "runs": runs,
                "median_ms": times[len(times) // 2],
                "min_ms": times[0],
                "shape": list(out.shape),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true", help="time the real shapes instead")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.bench:
        bench(args.runs, args.threads)
    else:
        fixtures()


if __name__ == "__main__":
    main()
