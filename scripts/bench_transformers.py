#!/usr/bin/env python3
"""Reference half of `ecgr1 model bench`: the same checkpoint, inputs and prompt through Hugging
Face transformers on the CPU, or with --device cuda on the GPU (every timer then waits for the
GPU). Prints one JSON line:
{"load_s", "ecg_tower_s", "prefill_s", "prompt_tokens", "prompt_token_ids", "image_tokens",
 "ecg_tokens", "decode_steps", "decode_tokens_per_s", "peak_rss_mib", "device",
 "peak_gpu_mib"}.

Qwen2-VL checkpoints take an image. Qwen3-VL / ECG-R1 checkpoints (config.json model_type
`qwen3_vl`) take an image, a signal (`--ecg`, ECG-R1 only), both or neither (a text-only
prompt), and run the forward of
make_qwen3vl_fixtures.py: transformers' own Qwen3-VL with a hook on embed_tokens that replaces the
101 `<|ecg_pad|>` rows by projector(tower(signal)), the tower and projector being that script's
ECG-CoCa reference (make_ecg_tower_fixtures.py) loaded from the checkpoint's `model.ecg_*`
tensors. The tower runs (and is timed) before the prefill, as in ecgr1; the prefill includes the
vision tower. load_s includes making the mmap'd weights resident (make_resident). peak_rss_mib is
VmHWM, which counts those file-backed pages.

Usage: python scripts/bench_transformers.py --model DIR [--image FILE] [--ecg CSV] [--notes TEXT]
       [--new-tokens N] [--dtype f32|bf16|f16] [--device cpu|cuda]

--ecg reads the CSV layout of assets/samples/ (500 Hz, integer µV, a time_ms column and one
<lead>_uV column per lead of the 12); ecgr1 reads any format and resamples, this reference does not.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixtures import QUESTION, SYSTEM, load_processor  # noqa: E402
from transformers import Qwen2VLForConditionalGeneration  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
DEVICE = "cpu"


def now():
    """perf_counter once the GPU's queued work is done (GPU calls return before they finish)."""
    if DEVICE != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter()


def to_device(inputs):
    return {k: (v.to(DEVICE) if hasattr(v, "to") else v) for k, v in inputs.items()}


def user_text(notes):
    """The user text part as ecgr1 builds it: notes, a blank line, the question."""
    return (notes.strip() + "\n\n" + QUESTION) if notes.strip() else QUESTION


def greedy_decode(model, out, new_tokens):
    """Feeds greedy tokens one at a time through the KV cache; returns (steps, seconds)."""
    past = out.past_key_values
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    steps = max(new_tokens - 1, 1)
    t = now()
    for _ in range(steps):
        # No attention mask: with one, transformers would derive positions for the whole
        # sequence; without, it continues from the cache with the stored M-RoPE delta.
        out = model(input_ids=nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    return steps, now() - t


def make_resident(model):
    """transformers 5.23 keeps weights whose stored dtype is the compute dtype as views of the
    mmap'd safetensors files (measured: 17.0 GB file-backed, 0.4 GB anonymous after loading the
    bf16 ECG-R1-8B-shaped checkpoint, in 0.26 s). Reading one value per 4 KiB page brings them
    into memory, so load_s counts reading the weights as ecgr1's load does and the prefill is not
    charged for page faults."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            flat = t.detach().reshape(-1)
            flat[:: max(4096 // t.element_size(), 1)].float().sum()


def peak_rss_mib():
    """This process's own peak (VmHWM). Not getrusage's ru_maxrss: Linux carries the parent's
    peak across fork + exec into it, so under `ecgr1 model bench` it would report ecgr1's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_qwen2vl(args):
    if not args.image:
        sys.exit("a Qwen2-VL checkpoint needs --image")
    if args.ecg:
        sys.exit("Qwen2-VL has no ECG tower; drop --ecg")
    t = time.perf_counter()
    model = Qwen2VLForConditionalGeneration.from_pretrained(args.model, dtype=DTYPES[args.dtype]).eval()
    model = model.to(DEVICE)
    if DEVICE == "cpu":
        make_resident(model)
    load_s = now() - t
    processor = load_processor(args.model, check_template=False)
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": user_text(args.notes)}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = Image.open(args.image).convert("RGB")
    inputs = to_device(processor(text=[text], images=[image], return_tensors="pt"))
    ids = inputs["input_ids"].cpu()
    with torch.no_grad():
        t = now()
        out = model(**inputs, use_cache=True)
        prefill_s = now() - t
        steps, decode_s = greedy_decode(model, out, args.new_tokens)
    return {
        "load_s": load_s,
        "ecg_tower_s": None,
        "prefill_s": prefill_s,
        "prompt_tokens": int(ids.shape[1]),
        "prompt_token_ids": ids[0].tolist(),
        "image_tokens": int((ids == model.config.image_token_id).sum()),
        "ecg_tokens": 0,
        "decode_steps": steps,
        "decode_tokens_per_s": steps / decode_s,
    }


def load_ecg_modules(ckpt, dtype):
    """make_ecg_tower_fixtures.py's tower + projector, sized from and filled with the checkpoint's
    `model.ecg_tower.*` / `model.ecg_projector.*` tensors (read alone from their shards)."""
    from make_ecg_tower_fixtures import EcgTower, projector
    from safetensors import safe_open

    index_path = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(index_path):
        weight_map = json.load(open(index_path))["weight_map"]
    else:
        with safe_open(os.path.join(ckpt, "model.safetensors"), "pt") as f:
            weight_map = {k: "model.safetensors" for k in f.keys()}
    sd = {}
    for fname in sorted({f for k, f in weight_map.items() if k.startswith("model.ecg_")}):
        with safe_open(os.path.join(ckpt, fname), "pt") as f:
            for k in f.keys():
                if k.startswith("model.ecg_"):
                    sd[k] = f.get_tensor(k)
    if "model.ecg_tower.conv1.weight" not in sd:
        sys.exit(f"{ckpt}: no model.ecg_tower.* tensors; --ecg needs an ECG-R1 checkpoint")
    width, leads, patch = sd["model.ecg_tower.conv1.weight"].shape
    tokens = sd["model.ecg_tower.positional_embedding"].shape[0]
    prefix = "model.ecg_tower.transformer.resblocks."
    depth = len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})
    mlp = sd[prefix + "0.mlp.c_fc.weight"].shape[0]
    hidden = sd["model.ecg_projector.2.weight"].shape[0]
    tower = EcgTower(leads, patch, tokens, width, depth, mlp, pooled_dim=sd["model.ecg_tower.proj"].shape[1])
    proj = projector(width, hidden)
    tower.load_state_dict({k[len("model.ecg_tower."):]: v for k, v in sd.items() if k.startswith("model.ecg_tower.")})
    proj.load_state_dict(
        {k[len("model.ecg_projector."):]: v for k, v in sd.items() if k.startswith("model.ecg_projector.")}
    )
    return tower.to(dtype).eval(), proj.to(dtype).eval()


def bench_qwen3vl(args, raw_config):
    from make_qwen3vl_fixtures import ECG_BLOCK, EcgSplice, ecg_features, load_ecg_input
    from make_qwen3vl_fixtures import load_processor as load_qwen3_processor
    from transformers import Qwen3VLForConditionalGeneration

    dtype = DTYPES[args.dtype]
    t = time.perf_counter()
    model = Qwen3VLForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
    model = model.to(DEVICE)
    if DEVICE == "cpu":
        make_resident(model)
    tower = proj = None
    if args.ecg:
        tower, proj = load_ecg_modules(args.model, dtype)
        tower, proj = tower.to(DEVICE), proj.to(DEVICE)
    load_s = now() - t

    processor = load_qwen3_processor(args.model, check_template=False)
    content = []
    if args.ecg:
        content.append({"type": "text", "text": ECG_BLOCK})
    if args.image:
        content.append({"type": "image"})
    content.append({"type": "text", "text": user_text(args.notes)})
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if args.image:
        image = Image.open(args.image).convert("RGB")
        inputs = processor(text=[text], images=[image], return_tensors="pt")
    else:
        inputs = processor(text=[text], return_tensors="pt")
    inputs = to_device(inputs)
    ids = inputs["input_ids"].cpu()

    ecg_tower_s = None
    splice = EcgSplice(raw_config.get("ecg_token_id"), None)
    if args.ecg:
        signal, _ = load_ecg_input(os.path.abspath(args.ecg))
        t = now()
        features = ecg_features(tower, proj, signal.to(dtype).to(DEVICE))[1][0]
        ecg_tower_s = now() - t
        splice.features = features
        model.model.language_model.embed_tokens.register_forward_hook(splice)

    with torch.no_grad():
        t = now()
        out = model(**inputs, use_cache=True)
        prefill_s = now() - t
        if args.ecg:
            assert splice.calls == 1, "the ECG features were not spliced into the prompt"
        steps, decode_s = greedy_decode(model, out, args.new_tokens)
    ecg_id = raw_config.get("ecg_token_id")
    return {
        "load_s": load_s,
        "ecg_tower_s": ecg_tower_s,
        "prefill_s": prefill_s,
        "prompt_tokens": int(ids.shape[1]),
        "prompt_token_ids": ids[0].tolist(),
        "image_tokens": int((ids == model.config.image_token_id).sum()),
        "ecg_tokens": int((ids == ecg_id).sum()) if ecg_id is not None else 0,
        "decode_steps": steps,
        "decode_tokens_per_s": steps / decode_s,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image")
    ap.add_argument("--ecg")
    ap.add_argument("--notes", default="")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    torch.set_num_threads(os.cpu_count() or 1)
    raw_config = json.load(open(os.path.join(args.model, "config.json")))
    if raw_config.get("model_type") == "qwen3_vl":
        result = bench_qwen3vl(args, raw_config)
    else:
        result = bench_qwen2vl(args)
    result["peak_rss_mib"] = peak_rss_mib()
    result["device"] = DEVICE
    result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20 if DEVICE != "cpu" else None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
