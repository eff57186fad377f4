#!/usr/bin/env python3
"""Builds tiny random-weight Qwen2-VL checkpoints in Hugging Face layout and the reference outputs
the Rust parity tests (engine/tests/qwen2vl_parity.rs) compare against.

Everything is deterministic (fixed seeds). Output: tests/fixtures/model/

  ecg_small.png, ecg_tiny.png     test images (a downscaled and an upscaled case)
  qwen2vl-tiny/                   current layout: nested text_config/vision_config, rope_parameters,
                                  model.language_model.* names, tied embeddings, one f32 safetensors,
                                  chat_template.jinja, size.shortest_edge/longest_edge
  qwen2vl-legacy/                 the layout older transformers wrote (the released 2B checkpoint's):
                                  flat config, rope_scaling.mrope_section, model.layers.* / visual.*,
                                  untied lm_head, bf16 weights in two shards + index.json, chat
                                  template inside tokenizer_config.json, min_pixels/max_pixels
  reference/<ckpt>.json           prompts, token ids, top-20 log-probs, 16 greedy tokens, P(yes) masses
  reference/pixels_*.safetensors  preprocessed pixel values

Usage:  python -m venv .venv && .venv/bin/pip install -r scripts/requirements-model.txt
        .venv/bin/python scripts/make_model_fixtures.py
        .venv/bin/python scripts/make_model_fixtures.py --bench-checkpoint DIR   # opt-in, ~4.4 GB
"""

import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin


class Qwen2VLImageTextProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor without its video half: the video processor needs torchvision, which is
    deliberately not installed (PyPI has none matching torch 2.15). Text and image handling —
    chat template, placeholder expansion, tokenisation — is Qwen2VLProcessor's own code."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(ckpt, check_template=True):
    """What AutoProcessor would build from the checkpoint's files (minus video)."""
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(ckpt)
    template_path = os.path.join(ckpt, "chat_template.jinja")
    template = open(template_path).read() if os.path.exists(template_path) else tokenizer.chat_template
    assert template == CHAT_TEMPLATE or not check_template
    return Qwen2VLImageTextProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "model")

# Qwen2's pre-tokenizer pattern (from the released tokenizer.json).
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
ADDED_TEXT_TOKENS = ["<think>", "</think>", "<answer>", "</answer>"]

# Qwen2-VL-Instruct's chat template, verbatim.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SYSTEM = "You are a helpful, harmless clinical ECG assistant. Provide concise, evidence-based interpretations."
NOTES = "Male, 64 years. Chest pain for 2 hours. History of hypertension."
QUESTION = (
    "Is the T-wave inversion on this ECG caused by myocardial ischemia? "
    "Think step by step inside <think></think>, then answer yes or no inside <answer></answer>."
)

CORPUS = [
    " ".join(["yes no Yes No YES NO"] * 20),
    "The answer is yes. The answer is no. Answer: Yes. Answer: No.",
    "<think> The rhythm is sinus. T wave inversion in V1 V2 V3. </think> <answer>yes</answer>",
    "<think> Normal axis, normal intervals, no ST elevation. </think> <answer>no</answer>",
    "Is the T-wave inversion on this ECG caused by myocardial ischemia?",
    "Think step by step, then answer yes or no.",
    "You are a helpful, harmless clinical ECG assistant. Provide concise, evidence-based interpretations.",
    "Male, 64 years. Chest pain for 2 hours. History of hypertension. Female, 71 years, diabetes.",
    "Step 1: Technical, Rate & Rhythm. Step 2: Conduction, Axis & Intervals. Step 3: Chamber Hypertrophy.",
    "Step 4: Ischemia, Infarction & Mimics. Step 5: Electrolytes & QT. Step 6: Final Medical Reasoning.",
    "heart rate 72 bpm, PR 160 ms, QRS 92 ms, QTc 430 ms, deep symmetric T inversion in leads V2-V4",
    "Wellens pattern, left ventricular hypertrophy with strain, bundle branch block, digoxin effect",
]


def build_tokenizer():
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=460,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(CORPUS * 4 + ["yes", "no", "Yes", "No"] * 20, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in ADDED_TEXT_TOKENS])
    for word in ["yes", "no", "Yes", "No", " yes", " no"]:
        ids = tok.encode(word).ids
        assert len(ids) == 1, f"{word!r} should be one token, got {ids}"
    return tok


def make_images():
    """A small ECG-like page (pink grid, black trace) and a thumbnail that must be upscaled."""
    w, h = 320, 180
    img = Image.new("RGB", (w, h), (255, 244, 244))
    d = ImageDraw.Draw(img)
    for x in range(0, w, 8):
        d.line([(x, 0), (x, h)], fill=(250, 200, 200) if x % 40 else (235, 140, 140), width=1)
    for y in range(0, h, 8):
        d.line([(0, y), (w, y)], fill=(250, 200, 200) if y % 40 else (235, 140, 140), width=1)
    for row, base in enumerate([45, 90, 135]):
        pts = []
        for x in range(w):
            t = (x + row * 17) % 80
            v = 0.0
            v += 6 * math.exp(-((t - 12) ** 2) / 18)  # P
            v -= 4 * math.exp(-((t - 24) ** 2) / 2)  # Q
            v += 30 * math.exp(-((t - 27) ** 2) / 3)  # R
            v -= 8 * math.exp(-((t - 30) ** 2) / 2)  # S
            v -= (9 if row == 1 else -8) * math.exp(-((t - 50) ** 2) / 40)  # T (inverted on row 1)
            pts.append((x, base - v))
        d.line(pts, fill=(20, 20, 20), width=2)
    small = img
    tiny = img.resize((50, 40), Image.Resampling.LANCZOS)
    return small, tiny


def init_weights(model, seed):
    """Random weights with enough spread that greedy choices are not near-ties."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "ln_q" in name:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or "lm_head" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "patch_embed" in name:
                p.copy_(0.03 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.12 * torch.randn(p.shape, generator=g))


def tiny_config(vocab_size, tok, tied):
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    return Qwen2VLConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            tie_word_embeddings=tied,
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,
            hidden_act="quick_gelu",
            mlp_ratio=4,
            num_heads=4,
            in_channels=3,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tied,
    )


def messages(with_image):
    content = []
    if with_image:
        content.append({"type": "image"})
    content.append({"type": "text", "text": NOTES + "\n\n" + QUESTION})
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def yes_no_ids(tokenizer, vocab_size):
    yes, no = [], []
    # The rule the engine applies: the token decodes to "yes"/"no" in any case, with or without
    # one leading space.
    for i in range(vocab_size):
        s = tokenizer.decode([i])
        s = (s[1:] if s.startswith(" ") else s).lower()
        if s == "yes":
            yes.append(i)
        elif s == "no":
            no.append(i)
    return yes, no


def reference_case(model, processor, name, image, pixel_file):
    text = processor.apply_chat_template(messages(image is not None), tokenize=False, add_generation_prompt=True)
    if image is not None:
        inputs = processor(text=[text], images=[image], return_tensors="pt")
    else:
        inputs = processor(text=[text], return_tensors="pt")
    ids = inputs["input_ids"]
    extra = {}
    if image is not None:
        extra = dict(
            pixel_values=inputs["pixel_values"],
            image_grid_thw=inputs["image_grid_thw"],
        )
    mm = inputs.get("mm_token_type_ids")

    def logits_for(seq, seq_mm):
        kwargs = dict(extra)
        if seq_mm is not None:
            kwargs["mm_token_type_ids"] = seq_mm
        with torch.no_grad():
            out = model(input_ids=seq, use_cache=False, **kwargs)
        return out.logits[0, -1].double()

    first = torch.log_softmax(logits_for(ids, mm), dim=-1)
    top = torch.topk(first, 20)
    # Greedy continuation by full recomputation (no cache) so the reference does not depend on caching.
    seq, seq_mm, greedy, margins = ids, mm, [], []
    for _ in range(16):
        lg = logits_for(seq, seq_mm)
        two = torch.topk(lg, 2).values
        margins.append(float(two[0] - two[1]))
        nxt = int(torch.argmax(lg))
        greedy.append(nxt)
        seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
        if seq_mm is not None:
            seq_mm = torch.cat([seq_mm, torch.zeros((1, 1), dtype=seq_mm.dtype)], dim=1)
    # Cross-check with generate() (KV cache path in transformers) for the same tokens.
    gen_kwargs = dict(extra)
    if mm is not None:
        gen_kwargs["mm_token_type_ids"] = mm
    with torch.no_grad():
        gen = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=16, min_new_tokens=16,
            do_sample=False, eos_token_id=None, pad_token_id=0, **gen_kwargs
        )
    gen_tokens = gen[0, ids.shape[1]:].tolist()
    # min_new_tokens masks eos; only compare where greedy did not pick eos.
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    if eos not in greedy:
        assert gen_tokens == greedy, f"{name}: generate() {gen_tokens} != manual greedy {greedy}"

    # P(yes) after the assistant opens the answer: prompt + "<answer>".
    answer_ids = processor.tokenizer("<answer>", add_special_tokens=False)["input_ids"]
    seq = torch.cat([ids, torch.tensor([answer_ids])], dim=1)
    seq_mm = None if mm is None else torch.cat([mm, torch.zeros((1, len(answer_ids)), dtype=mm.dtype)], dim=1)
    probs = torch.softmax(logits_for(seq, seq_mm), dim=-1)
    yes, no = yes_no_ids(processor.tokenizer, probs.shape[0])
    yes_mass = float(probs[yes].sum())
    no_mass = float(probs[no].sum())

    case = {
        "name": name,
        "system": SYSTEM,
        "notes": NOTES,
        "question": QUESTION,
        "image": None if image is None else image.filename_for_fixture,
        "prompt_text": text,
        "input_ids": ids[0].tolist(),
        "top_logprobs": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
        "greedy_tokens": greedy,
        "greedy_text": processor.tokenizer.decode(greedy, skip_special_tokens=False),
        "min_greedy_top2_margin": min(margins),
        "answer_suffix_ids": answer_ids,
        "yes_token_ids": yes,
        "no_token_ids": no,
        "yes_mass": yes_mass,
        "no_mass": no_mass,
        "p_yes": yes_mass / (yes_mass + no_mass),
    }
    if image is not None:
        case["image_grid_thw"] = inputs["image_grid_thw"].tolist()
        case["pixel_values_file"] = pixel_file
    return case


def save_processor_files(tok, out_dir, legacy):
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    if legacy:
        image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=28 * 28 * 8)
    else:
        image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 8})
    processor = Qwen2VLImageTextProcessor(image_processor=image_processor, tokenizer=hf_tok, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out_dir)
    # A real checkpoint names the full processor class.
    for f in os.listdir(out_dir):
        if f.endswith(".json"):
            p = os.path.join(out_dir, f)
            text = open(p).read()
            if "Qwen2VLImageTextProcessor" in text:
                open(p, "w").write(text.replace("Qwen2VLImageTextProcessor", "Qwen2VLProcessor"))
    if legacy:
        # Older checkpoints keep the template inside tokenizer_config.json and spell the pixel
        # budget as min_pixels/max_pixels.
        for f in ["chat_template.jinja", "chat_template.json"]:
            p = os.path.join(out_dir, f)
            if os.path.exists(p):
                os.remove(p)
        tc_path = os.path.join(out_dir, "tokenizer_config.json")
        tc = json.load(open(tc_path))
        tc["chat_template"] = CHAT_TEMPLATE
        json.dump(tc, open(tc_path, "w"), indent=2, ensure_ascii=False)
        # Older transformers wrote the image processor to preprocessor_config.json, flat.
        proc_path = os.path.join(out_dir, "processor_config.json")
        pp = json.load(open(proc_path))["image_processor"]
        os.remove(proc_path)
        pp_path = os.path.join(out_dir, "preprocessor_config.json")
        pp["processor_class"] = "Qwen2VLProcessor"
        pp.pop("size", None)
        pp["min_pixels"] = 56 * 56
        pp["max_pixels"] = 28 * 28 * 8
        json.dump(pp, open(pp_path, "w"), indent=2)


def legacy_rewrite(src_dir, dst_dir, config):
    """Rewrites a saved checkpoint into the layout older transformers versions wrote."""
    sd = load_file(os.path.join(src_dir, "model.safetensors"))
    renamed = {}
    for k, v in sd.items():
        if k.startswith("model.language_model."):
            nk = "model." + k[len("model.language_model."):]
        elif k.startswith("model.visual."):
            nk = "visual." + k[len("model.visual."):]
        else:
            nk = k
        renamed[nk] = v.to(torch.bfloat16).contiguous()
    names = sorted(renamed)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    total = 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: renamed[k] for k in shard}, os.path.join(dst_dir, fname), metadata={"format": "pt"})
        for k in shard:
            weight_map[k] = fname
            total += renamed[k].numel() * 2
    json.dump(
        {"metadata": {"total_size": total}, "weight_map": weight_map},
        open(os.path.join(dst_dir, "model.safetensors.index.json"), "w"),
        indent=2,
    )
    t = config.text_config
    v = config.vision_config
    flat = {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        "attention_dropout": 0.0,
        "bos_token_id": t.bos_token_id,
        "eos_token_id": t.eos_token_id,
        "vision_start_token_id": config.vision_start_token_id,
        "vision_end_token_id": config.vision_end_token_id,
        "vision_token_id": config.image_token_id - 1,
        "image_token_id": config.image_token_id,
        "video_token_id": config.video_token_id,
        "hidden_act": "silu",
        "hidden_size": t.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": t.intermediate_size,
        "max_position_embeddings": t.max_position_embeddings,
        "max_window_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_hidden_layers": t.num_hidden_layers,
        "num_key_value_heads": t.num_key_value_heads,
        "rms_norm_eps": t.rms_norm_eps,
        "rope_theta": t.rope_parameters["rope_theta"],
        "sliding_window": 32768,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.45.0.dev0",
        "use_cache": True,
        "use_sliding_window": False,
        "vision_config": {
            "depth": v.depth,
            "embed_dim": v.embed_dim,
            "mlp_ratio": v.mlp_ratio,
            "num_heads": v.num_heads,
            "in_chans": v.in_channels,
            "hidden_size": v.hidden_size,
            "patch_size": v.patch_size,
            "spatial_merge_size": v.spatial_merge_size,
            "spatial_patch_size": v.patch_size,
            "temporal_patch_size": v.temporal_patch_size,
        },
        "rope_scaling": {"type": "mrope", "mrope_section": list(t.rope_parameters["mrope_section"])},
        "vocab_size": t.vocab_size,
    }
    json.dump(flat, open(os.path.join(dst_dir, "config.json"), "w"), indent=2)
    return renamed


def make_bench_checkpoint(out_dir):
    """A random-weight checkpoint with the real Qwen2-VL-2B shapes (bf16, ~4.4 GB) for
    `ecgr1 model bench`, plus a page-sized synthetic ECG image. Opt-in: it is large."""
    os.makedirs(out_dir, exist_ok=True)
    tok = build_tokenizer()
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
            num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=32, embed_dim=1280, hidden_size=1536, hidden_act="quick_gelu", mlp_ratio=4, num_heads=16,
            in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(7)
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16).eval()
    model.save_pretrained(out_dir)
    save_processor_files(tok, out_dir, legacy=False)
    # Qwen2-VL's own default pixel budget.
    proc_path = os.path.join(out_dir, "processor_config.json")
    pc = json.load(open(proc_path))
    pc["image_processor"]["size"] = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280}
    json.dump(pc, open(proc_path, "w"), indent=2)
    small, _ = make_images()
    small.resize((1100, 620), Image.Resampling.BICUBIC).save(os.path.join(out_dir, "bench_ecg.png"))
    print(f"bench checkpoint: {out_dir} ({sum(p.numel() for p in model.parameters())} parameters)")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--bench-checkpoint":
        return make_bench_checkpoint(sys.argv[2])
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    # Only this script's outputs are replaced: the folder also holds the ECG tower and
    # Qwen3-VL/ECG-R1 fixtures of make_ecg_tower_fixtures.py and make_qwen3vl_fixtures.py.
    for name in ["qwen2vl-tiny", "qwen2vl-legacy"]:
        if os.path.exists(os.path.join(OUT, name)):
            shutil.rmtree(os.path.join(OUT, name))
    for name in ["qwen2vl-tiny.json", "qwen2vl-legacy.json"]:
        path = os.path.join(OUT, "reference", name)
        if os.path.exists(path):
            os.remove(path)
    os.makedirs(os.path.join(OUT, "reference"), exist_ok=True)
    with open(os.path.join(OUT, ".gitignore"), "w") as f:
        f.write("# Hash cache the engine writes beside weights (keyed by size and mtime, so it is per machine).\n")
        f.write(".ecgr1-sha256.json\n")

    small, tiny = make_images()
    small.save(os.path.join(OUT, "ecg_small.png"))
    tiny.save(os.path.join(OUT, "ecg_tiny.png"))
    small = Image.open(os.path.join(OUT, "ecg_small.png"))
    small.load()
    small.filename_for_fixture = "ecg_small.png"
    tiny = Image.open(os.path.join(OUT, "ecg_tiny.png"))
    tiny.load()

    tok = build_tokenizer()
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    vocab_size_padded = vocab_size + (-vocab_size % 16)  # Qwen pads the embedding rows beyond the tokenizer

    summary = {}
    for name, legacy, tied, seed in [("qwen2vl-tiny", False, True, 1234), ("qwen2vl-legacy", True, False, 4321)]:
        ckpt = os.path.join(OUT, name)
        os.makedirs(ckpt)
        config = tiny_config(vocab_size_padded, tok, tied)
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config).eval()
        init_weights(model, seed)
        if tied:
            model.tie_weights()
        model.generation_config.eos_token_id = [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")]
        model.generation_config.pad_token_id = tok.token_to_id("<|endoftext|>")
        model.generation_config.do_sample = False
        if legacy:
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                legacy_rewrite(tmp, ckpt, config)
                shutil.copy(os.path.join(tmp, "generation_config.json"), ckpt)
            save_processor_files(tok, ckpt, legacy=True)
            # The reference is what transformers makes of the legacy layout (bf16 weights, f32 compute).
            model = Qwen2VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32).eval()
            stored = {}
            for f in sorted(os.listdir(ckpt)):
                if f.endswith(".safetensors"):
                    stored.update(load_file(os.path.join(ckpt, f)))
            lm = model.state_dict()
            assert torch.equal(lm["lm_head.weight"], stored["lm_head.weight"].float())
            assert torch.equal(lm["model.visual.merger.mlp.0.weight"], stored["visual.merger.mlp.0.weight"].float())
            assert torch.equal(
                lm["model.language_model.layers.1.mlp.up_proj.weight"],
                stored["model.layers.1.mlp.up_proj.weight"].float(),
            )
        else:
            model.save_pretrained(ckpt)
            save_processor_files(tok, ckpt, legacy=False)
        model.config._attn_implementation = "eager"
        processor = load_processor(ckpt)
        assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorPil", type(processor.image_processor)

        cases = []
        cases.append(reference_case(model, processor, "text", None, None))
        pix_name = f"pixels_{name}_small.safetensors"
        cases.append(reference_case(model, processor, "image", small, pix_name))
        # Pixel values (the same for both checkpoints' processors, written per checkpoint for clarity).
        feats = processor.image_processor(images=[small], return_tensors="pt")
        save_file(
            {"pixel_values": feats["pixel_values"].float().contiguous(),
             "image_grid_thw": feats["image_grid_thw"].to(torch.int64).contiguous()},
            os.path.join(OUT, "reference", pix_name),
        )
        if not legacy:
            feats = processor.image_processor(images=[tiny], return_tensors="pt")
            save_file(
                {"pixel_values": feats["pixel_values"].float().contiguous(),
                 "image_grid_thw": feats["image_grid_thw"].to(torch.int64).contiguous()},
                os.path.join(OUT, "reference", "pixels_tiny_upscaled.safetensors"),
            )
        ref = {
            "checkpoint": name,
            "generator": "scripts/make_model_fixtures.py",
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "cases": cases,
        }
        json.dump(ref, open(os.path.join(OUT, "reference", f"{name}.json"), "w"), indent=1)
        summary[name] = {c["name"]: (len(c["input_ids"]), round(c["min_greedy_top2_margin"], 4), c["p_yes"])
                         for c in cases}
    print(json.dumps(summary, indent=1))
    total = 0
    for dirpath, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    print(f"fixtures: {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    sys.exit(main())
