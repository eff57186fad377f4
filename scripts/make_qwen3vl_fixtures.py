#!/usr/bin/env python3
"""Builds tiny random-weight Qwen3-VL and ECG-R1 checkpoints in Hugging Face layout and the
reference outputs the Rust parity tests compare against. Deterministic (fixed seeds, pinned
versions: scripts/requirements-model.txt). Writes only its own paths under tests/fixtures/model/:

  qwen3vl-tiny/      Qwen3VLForConditionalGeneration as transformers 5.23 writes it: nested
                     text_config/vision_config, rope_parameters (mrope_section, mrope_interleaved),
                     tied embeddings, one f32 model.safetensors, chat_template.jinja (the real
                     Qwen3-VL template), processor_config.json (PIL image processor, patch 16)
  ecgr1-tiny/        the same kind of Qwen3-VL with an untied lm_head, plus the ECG-CoCa tower
                     (model.ecg_tower.*) and the mlp2x_gelu projector (model.ecg_projector.*), the
                     three ECG tokens added to the tokenizer (vocab resized to len(tokenizer)),
                     config.json in the released Qwen3-VL-8B spelling (rope_scaling + rope_theta)
                     with ecg_token_id / ecg_hidden_size / ecg_projector_type / ecg_model_config,
                     preprocessor_config.json and chat_template.json
  reference/qwen3vl-tiny.json, reference/ecgr1-tiny.json     same format as qwen2vl-tiny.json
  reference/pixels_<ckpt>_<image>.safetensors                pixel_values + image_grid_thw
  reference/ecg_input_synthetic_sinus.safetensors            the [1, 12, 5000] model input
  reference/intermediates_<ckpt>.safetensors                 vision/ECG features, position ids,
                                                             first-step logits (for debugging)

Usage:  .venv/bin/pip install -r scripts/requirements-model.txt
        .venv/bin/python scripts/make_qwen3vl_fixtures.py
        .venv/bin/python scripts/make_qwen3vl_fixtures.py --bench-checkpoint DIR   # ~17 GB, opt-in
        .venv/bin/python scripts/make_qwen3vl_fixtures.py --bench-checkpoint DIR --bench-shapes small
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken
from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# Shared with the Qwen2-VL and ECG-tower fixtures: the tiny byte-level BPE tokenizer, prompts,
# the yes/no token rule, and the ECG-CoCa tower + projector reference and the signal conversion.
from make_model_fixtures import NOTES, QUESTION, SPECIAL_TOKENS, SYSTEM, build_tokenizer, yes_no_ids  # noqa: E402
from make_ecg_tower_fixtures import (  # noqa: E402
    TRAINING_ORDER,
    EcgTower,
    model_input_from_record,
    projector,
    randomise_norms,
)

ROOT = os.path.abspath(os.path.join(HERE, ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "model")
REF = os.path.join(OUT, "reference")
ECG_SAMPLE = "assets/samples/synthetic_sinus.csv"
ECG_INPUT_FILE = "ecg_input_synthetic_sinus.safetensors"

# Qwen3-VL-8B-Instruct's chat template, verbatim (5292 bytes).
TEMPLATE_PATH = os.path.join(HERE, "qwen3vl_chat_template.jinja")
TEMPLATE_SHA256 = "3636d0f0bd6bef02654cdffdc447b79cb2cef8ab02cc75267345946291a489e4"
CHAT_TEMPLATE = open(TEMPLATE_PATH, encoding="utf-8").read()
assert hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest() == TEMPLATE_SHA256, "chat template changed"

ECG_TOKENS = ["<|ecg_start|>", "<|ecg_pad|>", "<|ecg_end|>"]
ECG_SAMPLES = 5000
ECG_PATCH = 50
ECG_TOKENS_PER_SIGNAL = ECG_SAMPLES // ECG_PATCH + 1  # 101
ECG_BLOCK = ECG_TOKENS[0] + ECG_TOKENS[1] * ECG_TOKENS_PER_SIGNAL + ECG_TOKENS[2]

# Qwen3-VL's image normalisation (preprocessor_config.json of the released checkpoints).
IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.5, 0.5, 0.5]
TINY_PIXELS = {"shortest_edge": 32 * 32 * 3, "longest_edge": 32 * 32 * 8}


class Qwen3VLImageTextProcessor(Qwen3VLProcessor):
    """Qwen3VLProcessor without its video half (the video processor needs torchvision, which is
    deliberately not installed). Chat template, placeholder expansion, mm_token_type_ids and
    tokenisation are Qwen3VLProcessor's / ProcessorMixin's own code."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
        self.vision_start_token = "<|vision_start|>"
        self.vision_end_token = "<|vision_end|>"
        self.vision_start_token_id = tokenizer.convert_tokens_to_ids(self.vision_start_token)
        self.vision_end_token_id = tokenizer.convert_tokens_to_ids(self.vision_end_token)


def load_processor(ckpt, check_template=True):
    """What AutoProcessor would build from the checkpoint's files (minus video). The template
    check is for the fixtures; a benchmark of another checkpoint uses whatever template it has."""
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(ckpt)
    template = None
    for name in ["chat_template.jinja", "chat_template.json"]:
        p = os.path.join(ckpt, name)
        if os.path.exists(p):
            text = open(p, encoding="utf-8").read()
            template = text if name.endswith(".jinja") else json.loads(text)["chat_template"]
            break
    assert template == CHAT_TEMPLATE or not check_template, f"{ckpt}: chat template differs"
    return Qwen3VLImageTextProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


# ----------------------------------------------------------------------------------------------
# Tokenizer, config, weights


def build_tokenizers():
    """The Qwen2-VL fixtures' tokenizer (same special tokens as Qwen3-VL's that the prompts use)
    and ECG-R1's: the same plus the three ECG tokens appended as special tokens."""
    base = build_tokenizer()
    ecg = build_tokenizer()
    ecg.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ECG_TOKENS])
    n = base.get_vocab_size(with_added_tokens=True)
    assert [ecg.token_to_id(t) for t in ECG_TOKENS] == [n, n + 1, n + 2]
    return base, ecg


def text_dims(vocab_size, bos, eos, tied):
    return dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [4, 2, 2],
            "mrope_interleaved": True,
        },
        bos_token_id=bos,
        eos_token_id=eos,
        tie_word_embeddings=tied,
    )


VISION_TINY = dict(
    depth=3,
    hidden_size=16,
    intermediate_size=32,
    num_heads=2,
    hidden_act="gelu_pytorch_tanh",
    in_channels=3,
    patch_size=16,
    spatial_merge_size=2,
    temporal_patch_size=2,
    out_hidden_size=64,
    num_position_embeddings=64,
    deepstack_visual_indexes=[0, 2],
)


def make_config(tok, vocab_size, tied, text=None, vision=None):
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    text = text or text_dims(vocab_size, ids["<|endoftext|>"], ids["<|im_end|>"], tied)
    vision = dict(vision or VISION_TINY)
    vision["out_hidden_size"] = text["hidden_size"]
    return Qwen3VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tied,
    )


def init_weights(model, seed, scale):
    """Random weights with enough spread that greedy choices are not near-ties (as in
    make_model_fixtures.py; `scale` multiplies the matrix std)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
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
            elif "pos_embed" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(scale * 0.12 * torch.randn(p.shape, generator=g))


def build_ecg_modules(seed, width, depth, mlp_width, hidden, proj_gain):
    """ECG-CoCa tower + mlp2x_gelu projector (the reference of make_ecg_tower_fixtures.py)."""
    torch.manual_seed(seed)
    tower = EcgTower(12, ECG_PATCH, ECG_TOKENS_PER_SIGNAL, width, depth, mlp_width, pooled_dim=32)
    proj = projector(width, hidden)
    gen = torch.Generator().manual_seed(seed + 1)
    randomise_norms(tower, gen)
    with torch.no_grad():
        for block in tower.transformer.resblocks:
            block.attn.in_proj_bias.copy_(0.1 * torch.randn(3 * width, generator=gen))
            block.attn.out_proj.bias.copy_(0.1 * torch.randn(width, generator=gen))
        # Projected vectors on the scale of the text embeddings (std 0.3), so the signal moves
        # the logits without swamping the prompt.
        proj[2].weight.mul_(proj_gain)
        proj[2].bias.mul_(proj_gain)
    return tower.eval(), proj.eval()


# ----------------------------------------------------------------------------------------------
# Inputs


def load_images():
    out = {}
    for key, fname in [("small", "ecg_small.png"), ("tiny", "ecg_tiny.png")]:
        img = Image.open(os.path.join(OUT, fname))
        img.load()
        img.filename_for_fixture = fname
        out[key] = img
    return out


def load_ecg_input(path=None):
    """assets/samples/synthetic_sinus.csv, or another CSV of that layout (500 Hz, integer µV,
    time_ms + <lead>_uV columns, all 12 leads) → training lead order, mV, NaN → 0, pad/crop to
    5000 → [1, 12, 5000] f32."""
    path = path or os.path.join(ROOT, ECG_SAMPLE)
    header = open(path).readline().strip().split(",")
    assert header[0] == "time_ms", header
    data = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=np.float64)
    t = data[:, 0]
    rate = 1000.0 / float(np.median(np.diff(t)))
    assert abs(rate - 500.0) < 1e-6, rate
    names = []
    for h in header[1:]:
        assert h.endswith("_uV"), h
        names.append(h[: -len("_uV")])
    record = data[:, 1:].T  # [leads, samples], file order
    assert sorted(names) == sorted(TRAINING_ORDER), names
    signal = model_input_from_record(record, names, ECG_SAMPLES)
    assert signal.shape == (1, 12, ECG_SAMPLES) and signal.dtype == torch.float32
    return signal, {"file_lead_order": names, "sample_rate_hz": rate, "samples_in_file": record.shape[1]}


def messages(with_ecg, with_image):
    content = []
    if with_ecg:
        content.append({"type": "text", "text": ECG_BLOCK})
    if with_image:
        content.append({"type": "image"})
    content.append({"type": "text", "text": NOTES + "\n\n" + QUESTION})
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


# ----------------------------------------------------------------------------------------------
# The ECG-R1 reference forward


class EcgSplice:
    """Forward hook on embed_tokens: the first 101 `<|ecg_pad|>` embeddings of a sequence that
    holds the prompt's ECG block are replaced, in order, by projector(tower(signal)). Everything
    else (image features + deepstack at <|image_pad|>, get_rope_index positions in which ECG
    tokens are ordinary text tokens) is Qwen3-VL's own forward on the real input_ids."""

    def __init__(self, ecg_token_id, features):
        self.ecg_token_id = ecg_token_id
        self.features = features  # [101, H] or None
        self.calls = 0

    def __call__(self, module, args, output):
        if self.features is None:
            return output
        ids = args[0]
        out = output.clone()
        for b in range(ids.shape[0]):
            pos = (ids[b] == self.ecg_token_id).nonzero().flatten()
            if len(pos) < self.features.shape[0]:
                continue  # a decoding step of a cached generate(): no ECG block in it
            pos = pos[: self.features.shape[0]]
            out[b, pos] = self.features.to(out.dtype)
            self.calls += 1
        return out


def ecg_features(tower, proj, signal):
    with torch.no_grad():
        tokens = tower(signal)
        projected = proj(tokens)
    return tokens, projected


def reference_case(model, processor, name, image, ecg, splice, pixel_file, inter, cross_check=True):
    """One prompt: top-20 log-probs, 16 greedy tokens (full recomputation), P(yes). With
    cross_check, generate()'s cached decoding must give the same tokens (f32 only: in bf16 the
    cached and recomputed paths round differently and may part at a near-tie)."""
    text = processor.apply_chat_template(
        messages(ecg is not None, image is not None), tokenize=False, add_generation_prompt=True
    )
    if image is not None:
        inputs = processor(text=[text], images=[image], return_tensors="pt")
    else:
        inputs = processor(text=[text], return_tensors="pt")
    ids = inputs["input_ids"]
    mm = inputs["mm_token_type_ids"]
    extra = {}
    if image is not None:
        extra = dict(pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"])
    ecg_id = processor.tokenizer.convert_tokens_to_ids("<|ecg_pad|>")
    if ecg is not None:
        assert int((ids == ecg_id).sum()) == ECG_TOKENS_PER_SIGNAL
        splice.features = ecg
    else:
        splice.features = None

    def logits_for(seq, seq_mm):
        with torch.no_grad():
            out = model(input_ids=seq, mm_token_type_ids=seq_mm, use_cache=False, **extra)
        return out.logits[0, -1].double()

    calls0 = splice.calls
    first_logits = logits_for(ids, mm)
    if ecg is not None:
        assert splice.calls == calls0 + 1, "the ECG features were not spliced in"
    first = torch.log_softmax(first_logits, dim=-1)
    top = torch.topk(first, 20)
    seq, seq_mm, greedy, margins = ids, mm, [], []
    for _ in range(16):
        lg = logits_for(seq, seq_mm)
        two = torch.topk(lg, 2).values
        margins.append(float(two[0] - two[1]))
        nxt = int(torch.argmax(lg))
        greedy.append(nxt)
        seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
        seq_mm = torch.cat([seq_mm, torch.zeros((1, 1), dtype=seq_mm.dtype)], dim=1)
    forbidden = {processor.image_token_id, processor.video_token_id, ecg_id}
    assert not forbidden & set(greedy), f"{name}: greedy produced a placeholder token {greedy}"
    # Cross-check with generate() (transformers' KV-cache path, its own 3-D position bookkeeping).
    with torch.no_grad():
        gen = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=mm, max_new_tokens=16,
            min_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=0, **extra
        )
    gen_tokens = gen[0, ids.shape[1]:].tolist()
    eos = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    if cross_check and eos not in greedy:
        assert gen_tokens == greedy, f"{name}: generate() {gen_tokens} != manual greedy {greedy}"

    answer_ids = processor.tokenizer("<answer>", add_special_tokens=False)["input_ids"]
    seq = torch.cat([ids, torch.tensor([answer_ids])], dim=1)
    seq_mm = torch.cat([mm, torch.zeros((1, len(answer_ids)), dtype=mm.dtype)], dim=1)
    probs = torch.softmax(logits_for(seq, seq_mm), dim=-1)
    yes, no = yes_no_ids(processor.tokenizer, probs.shape[0])
    yes_mass = float(probs[yes].sum())
    no_mass = float(probs[no].sum())

    # Debugging aids: the 3-D positions transformers uses and the first-step logits.
    if image is not None:
        pos, _ = model.model.get_rope_index(ids, mm_token_type_ids=mm, image_grid_thw=inputs["image_grid_thw"])
    else:
        pos = torch.arange(ids.shape[1]).view(1, 1, -1).expand(3, 1, -1)
    inter[f"{name}.position_ids"] = pos[:, 0].to(torch.int64).contiguous()
    inter[f"{name}.first_logits"] = first_logits.float().contiguous()

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
        "greedy_top2_margins": margins,
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
    # Always present (null without a signal), in both reference files.
    case["ecg"] = ECG_SAMPLE if ecg is not None else None
    case["ecg_input"] = ECG_INPUT_FILE if ecg is not None else None
    return case, inputs


def check_splice(model, processor, splice, tower, proj, signal, image):
    """(1) The hook equals an independent route: inputs_embeds built by hand + position_ids from
    get_rope_index. (2) A projector whose output is exactly the <|ecg_pad|> embedding row gives
    the plain Qwen3-VL forward (no hook) bit for bit. Returns the max abs differences."""
    text = processor.apply_chat_template(messages(True, True), tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    ids, mm, grid = inputs["input_ids"], inputs["mm_token_type_ids"], inputs["image_grid_thw"]
    pv = inputs["pixel_values"]
    ecg_id = processor.tokenizer.convert_tokens_to_ids("<|ecg_pad|>")
    _, feats = ecg_features(tower, proj, signal)
    feats = feats[0]
    with torch.no_grad():
        splice.features = feats
        hooked = model(input_ids=ids, mm_token_type_ids=mm, pixel_values=pv, image_grid_thw=grid).logits
        splice.features = None
        emb = model.model.language_model.embed_tokens(ids).clone()
        emb[0, ids[0] == ecg_id] = feats
        pos, _ = model.model.get_rope_index(ids, mm_token_type_ids=mm, image_grid_thw=grid)
        model.model.rope_deltas = None
        manual = model(inputs_embeds=emb, position_ids=pos, pixel_values=pv, image_grid_thw=grid).logits
        d1 = float((hooked - manual).abs().max())
        # Identity projector: out = embed_tokens[<|ecg_pad|>] for every ECG token.
        pad_row = model.model.language_model.embed_tokens.weight[ecg_id].detach()
        ident = torch.nn.Sequential(torch.nn.Linear(proj[0].in_features, pad_row.shape[0]))
        torch.nn.init.zeros_(ident[0].weight)
        ident[0].bias.copy_(pad_row)
        _, same = ecg_features(tower, ident, signal)
        splice.features = same[0]
        hooked_ident = model(input_ids=ids, mm_token_type_ids=mm, pixel_values=pv, image_grid_thw=grid).logits
        splice.features = None
        plain = model(input_ids=ids, mm_token_type_ids=mm, pixel_values=pv, image_grid_thw=grid).logits
        d2 = float((hooked_ident - plain).abs().max())
        d3 = float((hooked - plain).abs().max())
    assert d1 < 1e-5, f"hooked vs manual inputs_embeds: {d1}"
    assert d2 == 0.0, f"identity projector vs plain Qwen3-VL: {d2}"
    assert d3 > 1e-2, f"the ECG features do not change the logits ({d3})"
    return {"hook_vs_inputs_embeds": d1, "identity_projector_vs_plain": d2, "ecg_effect": d3}


# ----------------------------------------------------------------------------------------------
# Writing checkpoints


def hf_tokenizer(tok):
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        clean_up_tokenization_spaces=False,
        model_max_length=262144,
    )


def save_processor_files(tok, out_dir, layout, pixels):
    image_processor = Qwen2VLImageProcessorPil(
        size=dict(pixels), patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
    )
    processor = Qwen3VLImageTextProcessor(image_processor=image_processor, tokenizer=hf_tokenizer(tok),
                                          chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(out_dir)
    for f in os.listdir(out_dir):
        if f.endswith(".json"):
            p = os.path.join(out_dir, f)
            text = open(p).read()
            if "Qwen3VLImageTextProcessor" in text:
                open(p, "w").write(text.replace("Qwen3VLImageTextProcessor", "Qwen3VLProcessor"))
    if layout == "released":
        # The released Qwen3-VL repositories: preprocessor_config.json (flat, `size` dict of pixel
        # counts) and chat_template.json.
        proc_path = os.path.join(out_dir, "processor_config.json")
        pp = json.load(open(proc_path))["image_processor"]
        os.remove(proc_path)
        pp["processor_class"] = "Qwen3VLProcessor"
        pp["image_processor_type"] = "Qwen2VLImageProcessorFast"
        json.dump(pp, open(os.path.join(out_dir, "preprocessor_config.json"), "w"), indent=2)
        jinja = os.path.join(out_dir, "chat_template.jinja")
        if os.path.exists(jinja):
            os.remove(jinja)
        json.dump({"chat_template": CHAT_TEMPLATE}, open(os.path.join(out_dir, "chat_template.json"), "w"), indent=2)
        tc_path = os.path.join(out_dir, "tokenizer_config.json")
        tc = json.load(open(tc_path))
        tc.pop("chat_template", None)
        json.dump(tc, open(tc_path, "w"), indent=2, ensure_ascii=False)


def released_config_json(config, ecg):
    """config.json as the released Qwen3-VL-8B-Instruct spells it (transformers 4.57): rope in
    text_config.rope_scaling + rope_theta, vision model_type "qwen3_vl"; plus ECG-R1's keys."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        config.save_pretrained(tmp)  # transformers' own (diff-only) serialisation
        d = json.load(open(os.path.join(tmp, "config.json")))
    t = d["text_config"]
    rp = t.pop("rope_parameters")
    t["rope_theta"] = rp["rope_theta"]
    t["rope_scaling"] = {k: rp[k] for k in ["rope_type", "mrope_section", "mrope_interleaved"]}
    t.pop("layer_types", None)
    d["vision_config"]["model_type"] = "qwen3_vl"
    d["vision_config"].pop("rope_parameters", None)
    d["transformers_version"] = "4.57.0.dev0"
    d.update(ecg)
    return d


def ecg_config_keys(ecg_tok, width):
    return {
        "ecg_token_id": ecg_tok.token_to_id("<|ecg_pad|>"),
        "ecg_hidden_size": width,
        "ecg_projector_type": "mlp2x_gelu",
        "ecg_model_config": "coca_ViT-B-32",
    }


def generation_config(model, tok):
    model.generation_config.eos_token_id = [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")]
    model.generation_config.pad_token_id = tok.token_to_id("<|endoftext|>")
    model.generation_config.do_sample = False


def build_qwen3vl_tiny(tok, seed, scale):
    vocab = tok.get_vocab_size(with_added_tokens=True)
    padded = vocab + (-vocab % 16)  # Qwen pads the embedding rows beyond the tokenizer
    config = make_config(tok, padded, tied=True)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).eval()
    init_weights(model, seed, scale)
    model.tie_weights()
    generation_config(model, tok)
    return model


def build_ecgr1_tiny(ecg_tok, seed, scale, tower_seed, proj_gain):
    """A Qwen3-VL (untied) whose vocabulary was resized to len(tokenizer) after adding the three
    ECG tokens, with the tower and projector."""
    base_vocab = ecg_tok.get_vocab_size(with_added_tokens=True) - len(ECG_TOKENS)
    padded = base_vocab + (-base_vocab % 16)
    config = make_config(ecg_tok, padded, tied=False)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).eval()
    init_weights(model, seed, scale)
    # resize_token_embeddings to exactly len(tokenizer): the new ECG rows get random values too.
    n = ecg_tok.get_vocab_size(with_added_tokens=True)
    model.resize_token_embeddings(n, mean_resizing=False)
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for w in [model.model.language_model.embed_tokens.weight, model.lm_head.weight]:
            w[base_vocab:] = 0.3 * torch.randn((n - base_vocab, w.shape[1]), generator=g)
    assert model.config.text_config.vocab_size == n
    tower, proj = build_ecg_modules(tower_seed, width=64, depth=2, mlp_width=128, hidden=64, proj_gain=proj_gain)
    model.model.ecg_tower = tower
    model.model.ecg_projector = proj
    generation_config(model, ecg_tok)
    return model


def write_ecgr1(model, ecg_tok, ckpt):
    os.makedirs(ckpt, exist_ok=True)
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(ckpt, "model.safetensors"), metadata={"format": "pt"})
    width = model.model.ecg_tower.class_embedding.shape[0]
    cfg = released_config_json(model.config, ecg_config_keys(ecg_tok, width))
    cfg["architectures"] = ["Qwen3VLForConditionalGeneration"]
    json.dump(cfg, open(os.path.join(ckpt, "config.json"), "w"), indent=2)
    model.generation_config.save_pretrained(ckpt)
    save_processor_files(ecg_tok, ckpt, "released", TINY_PIXELS)


def reload_ecgr1(ckpt, tower_like, proj_like):
    """What transformers makes of the written directory (Qwen3-VL part) + the tower/projector
    loaded back from the same file: the reference is computed from this, not from memory."""
    config = Qwen3VLConfig.from_pretrained(ckpt)
    # The released spelling (rope_scaling + rope_theta) must reach the model unchanged.
    rp = config.text_config.rope_parameters
    assert rp["mrope_section"] == [4, 2, 2] and rp["rope_theta"] == 5000000.0, rp
    model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, config=config, dtype=torch.float32).eval()
    sd = load_file(os.path.join(ckpt, "model.safetensors"))
    tower, proj = tower_like, proj_like
    tower.load_state_dict({k[len("model.ecg_tower."):]: v for k, v in sd.items() if k.startswith("model.ecg_tower.")})
    proj.load_state_dict({k[len("model.ecg_projector."):]: v for k, v in sd.items()
                          if k.startswith("model.ecg_projector.")})
    lm = model.state_dict()
    for k, v in sd.items():
        if k.startswith("model.ecg_"):
            continue
        assert torch.equal(lm[k], v), f"reloaded {k} differs"
    assert set(k for k in sd if not k.startswith("model.ecg_")) == set(lm), "key sets differ"
    return model, tower.eval(), proj.eval()


def save_pixels(processor, image, path):
    feats = processor.image_processor(images=[image], return_tensors="pt")
    save_file(
        {"pixel_values": feats["pixel_values"].float().contiguous(),
         "image_grid_thw": feats["image_grid_thw"].to(torch.int64).contiguous()},
        path,
    )
    return feats


def vision_intermediates(model, feats, prefix, inter):
    with torch.no_grad():
        out = model.model.get_image_features(feats["pixel_values"], feats["image_grid_thw"], return_dict=True)
        visual = model.model.visual
        from transformers.vision_utils import get_vision_interpolation_indices_and_weights
        idx, w = get_vision_interpolation_indices_and_weights(
            feats["image_grid_thw"], num_grid_per_side=visual.num_grid_per_side, mode="bilinear",
            align_corners=True, spatial_merge_size=visual.spatial_merge_size,
        )
        pos = (visual.pos_embed(idx) * w[:, :, None]).sum(1)
        patches = visual.patch_embed(feats["pixel_values"])
    inter[f"{prefix}.pos_embeds"] = pos.contiguous()
    inter[f"{prefix}.image_embeds"] = torch.cat(out.pooler_output, 0).contiguous()
    for k, f in enumerate(out.deepstack_features):
        inter[f"{prefix}.deepstack.{k}"] = torch.cat(f, 0).contiguous()


def run_cases(model, processor, splice, images, ecg_proj, name, with_ecg):
    inter = {}
    cases = []
    plan = [("text", None, False), ("image", "small", False)]
    if with_ecg:
        plan = [("text", None, False), ("image", "small", False), ("signal", None, True), ("signal_image", "small", True)]
    else:
        plan.append(("image_tiny", "tiny", False))
    for case_name, img_key, ecg in plan:
        image = None if img_key is None else images[img_key]
        pix = None if img_key is None else f"pixels_{name}_{img_key}.safetensors"
        case, _ = reference_case(model, processor, case_name, image, ecg_proj if ecg else None, splice, pix, inter)
        cases.append(case)
    return cases, inter


MIN_MARGIN = 0.05  # logit gap between greedy top-1 and top-2 required at every step of every case
SEEDS = {"qwen3vl-tiny": 2024, "ecgr1-tiny": 4096}
MAX_TRIES = 60
MIN_DISTINCT = 4  # a continuation that repeats one token would not exercise the KV cache much


def make_qwen3vl(base_tok, images, seed):
    name = "qwen3vl-tiny"
    ckpt = os.path.join(OUT, name)
    if os.path.exists(ckpt):
        shutil.rmtree(ckpt)
    os.makedirs(ckpt)
    model = build_qwen3vl_tiny(base_tok, seed, 1.0)
    model.save_pretrained(ckpt)
    save_processor_files(base_tok, ckpt, "current", TINY_PIXELS)
    # The reference is what transformers loads back from the directory.
    model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32).eval()
    model.config._attn_implementation = "eager"
    processor = load_processor(ckpt)
    splice = EcgSplice(-1, None)
    model.model.language_model.embed_tokens.register_forward_hook(splice)
    cases, inter = run_cases(model, processor, splice, images, None, name, with_ecg=False)

    def finish():
        for key in ["small", "tiny"]:
            feats = save_pixels(processor, images[key], os.path.join(REF, f"pixels_{name}_{key}.safetensors"))
            vision_intermediates(model, feats, key, inter)
        save_file(inter, os.path.join(REF, f"intermediates_{name}.safetensors"))
        write_reference(name, model, cases, seed, {"image_processor": type(processor.image_processor).__name__})

    return cases, finish


def make_ecgr1(ecg_tok, images, signal, ecg_meta, seed):
    name = "ecgr1-tiny"
    ckpt = os.path.join(OUT, name)
    if os.path.exists(ckpt):
        shutil.rmtree(ckpt)
    tower_seed = seed + 1
    model = build_ecgr1_tiny(ecg_tok, seed, 1.0, tower_seed, 1.0)
    write_ecgr1(model, ecg_tok, ckpt)
    tower_like, proj_like = build_ecg_modules(0, width=64, depth=2, mlp_width=128, hidden=64, proj_gain=1.0)
    model, tower, proj = reload_ecgr1(ckpt, tower_like, proj_like)
    model.config._attn_implementation = "eager"
    processor = load_processor(ckpt)
    assert processor.tokenizer.convert_tokens_to_ids("<|ecg_pad|>") == model.config.ecg_token_id
    splice = EcgSplice(model.config.ecg_token_id, None)
    model.model.language_model.embed_tokens.register_forward_hook(splice)
    tokens, projected = ecg_features(tower, proj, signal)
    cases, inter = run_cases(model, processor, splice, images, projected[0], name, with_ecg=True)

    def finish():
        splice_check = check_splice(model, processor, splice, tower, proj, signal, images["small"])
        with torch.no_grad():
            t64 = tower.double()(signal.double())
            p64 = proj.double()(t64)
        tower.float()
        proj.float()
        feats = save_pixels(processor, images["small"], os.path.join(REF, f"pixels_{name}_small.safetensors"))
        vision_intermediates(model, feats, "small", inter)
        inter["ecg.tokens"] = tokens.contiguous()
        inter["ecg.projected"] = projected.contiguous()
        save_file(inter, os.path.join(REF, f"intermediates_{name}.safetensors"))
        extra = {
            "image_processor": type(processor.image_processor).__name__,
            "ecg_input_meta": ecg_meta,
            "ecg_tokens_per_signal": ECG_TOKENS_PER_SIGNAL,
            "ecg_token_ids": {t: processor.tokenizer.convert_tokens_to_ids(t) for t in ECG_TOKENS},
            "splice_check": splice_check,
            "ecg_f32_vs_f64": {"tokens": float((tokens.double() - t64).abs().max()),
                               "projected": float((projected.double() - p64).abs().max())},
        }
        extra["parameters_qwen3vl"] = sum(p.numel() for p in model.parameters())
        extra["parameters_ecg"] = sum(p.numel() for m in (tower, proj) for p in m.parameters())
        write_reference(name, model, cases, seed, extra, more_modules=(tower, proj))
        return splice_check

    return cases, finish


def search(label, attempt):
    """Deterministic seed search: the first seed from SEEDS[label] upward whose greedy
    continuations all keep a top-1/top-2 logit gap of at least MIN_MARGIN."""
    for k in range(MAX_TRIES):
        seed = SEEDS[label] + k
        try:
            cases, finish = attempt(seed)
        except AssertionError as e:  # e.g. greedy produced a placeholder token
            print(f"{label}: seed {seed} rejected ({e})")
            continue
        margin = min(c["min_greedy_top2_margin"] for c in cases)
        distinct = min(len(set(c["greedy_tokens"])) for c in cases)
        if distinct < MIN_DISTINCT:
            print(f"{label}: seed {seed} rejected (a greedy continuation has only {distinct} distinct tokens)")
            continue
        if margin >= MIN_MARGIN:
            print(f"{label}: seed {seed}, min greedy top-2 margin {margin:.4f}")
            return cases, finish
        print(f"{label}: seed {seed} rejected (margin {margin:.4f})")
    raise SystemExit(f"{label}: no seed in {MAX_TRIES} tries reaches margin {MIN_MARGIN}")


def fixtures():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(REF, exist_ok=True)
    images = load_images()
    signal, ecg_meta = load_ecg_input()
    save_file({"ecg": signal.contiguous()}, os.path.join(REF, ECG_INPUT_FILE),
              metadata={"description": f"{ECG_SAMPLE}: leads {','.join(TRAINING_ORDER)}, mV"})  # one key: safetensors
    # writes the metadata map in hash order, so several keys would make the bytes vary run to run
    base_tok, ecg_tok = build_tokenizers()
    summary = {}

    cases, finish = search("qwen3vl-tiny", lambda seed: make_qwen3vl(base_tok, images, seed))
    finish()
    summary["qwen3vl-tiny"] = {c["name"]: (len(c["input_ids"]), round(c["min_greedy_top2_margin"], 4),
                                           round(c["p_yes"], 4)) for c in cases}
    cases, finish = search("ecgr1-tiny", lambda seed: make_ecgr1(ecg_tok, images, signal, ecg_meta, seed))
    summary["splice_check"] = finish()
    summary["ecgr1-tiny"] = {c["name"]: (len(c["input_ids"]), round(c["min_greedy_top2_margin"], 4),
                                         round(c["p_yes"], 4)) for c in cases}
    print(json.dumps(summary, indent=1))
    total = 0
    for d in ["qwen3vl-tiny", "ecgr1-tiny"]:
        for dirpath, _, files in os.walk(os.path.join(OUT, d)):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    for f in os.listdir(REF):
        if "qwen3vl" in f or "ecgr1" in f or f == ECG_INPUT_FILE:
            total += os.path.getsize(os.path.join(REF, f))
    print(f"fixtures written by this script: {total / 1e6:.2f} MB")


def write_reference(name, model, cases, seed, extra, more_modules=()):
    # Counted once each (tied embeddings are one tensor); for ECG-R1 the tower and projector too.
    n_params = sum(p.numel() for p in model.parameters())
    n_params += sum(p.numel() for m in more_modules for p in m.parameters())
    ref = {
        "checkpoint": name,
        "generator": "scripts/make_qwen3vl_fixtures.py",
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "parameters": n_params,
        "seed": seed,
        **extra,
        "cases": cases,
    }
    json.dump(ref, open(os.path.join(REF, f"{name}.json"), "w"), indent=1)


# ----------------------------------------------------------------------------------------------
# --bench-checkpoint: real ECG-R1-8B shapes, random bf16 weights, written tensor by tensor


BENCH_SHAPES = {
    "real": dict(
        text=dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, mrope_section=[24, 20, 20], base_vocab=151669, rows=151936),
        vision=dict(depth=27, hidden_size=1152, intermediate_size=4304, num_heads=16, num_position_embeddings=2304,
                    deepstack_visual_indexes=[8, 16, 24]),
        tower=dict(width=768, depth=12, mlp_width=3072),
        shard_bytes=4 * 1024**3,
    ),
    # The same code path at a size that runs in seconds (checked by hand and by --bench-shapes small).
    "small": dict(
        text=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=32, mrope_section=[6, 5, 5], base_vocab=None, rows=None),
        vision=dict(depth=5, hidden_size=64, intermediate_size=128, num_heads=2, num_position_embeddings=256,
                    deepstack_visual_indexes=[1, 2, 3]),
        tower=dict(width=128, depth=2, mlp_width=512),
        shard_bytes=1 * 1024**2,
    ),
}


def bench_init(name, shape, gen):
    """Scaled so activations stay finite through 36 bf16 layers."""
    if "norm" in name or ".ln_" in name:
        return torch.ones(shape) if name.endswith("weight") else torch.zeros(shape)
    if name.endswith("bias"):
        return torch.zeros(shape)
    fan_in = shape[-1] if len(shape) >= 2 else 1
    if len(shape) > 2:
        fan_in = int(np.prod(shape[1:]))
    std = 0.02 if ("embed" in name or "lm_head" in name or len(shape) < 2) else 1.0 / math.sqrt(fan_in)
    return torch.randn(shape, generator=gen) * std


def make_bench_checkpoint(out_dir, which):
    s = BENCH_SHAPES[which]
    os.makedirs(out_dir, exist_ok=True)
    _, ecg_tok = build_tokenizers()
    n_tok = ecg_tok.get_vocab_size(with_added_tokens=True)
    t = dict(s["text"])
    base_vocab = t.pop("base_vocab") or n_tok - len(ECG_TOKENS)
    rows = t.pop("rows") or base_vocab + (-base_vocab % 16)
    section = t.pop("mrope_section")
    # The real model: Qwen's 151936-row vocab resized to base + 3 ECG tokens; the tiny tokenizer's
    # ids are all below that, and its ECG ids are what config.json names.
    vocab = base_vocab + len(ECG_TOKENS)
    del rows
    ids = {k: ecg_tok.token_to_id(k) for k in SPECIAL_TOKENS}
    text = dict(
        vocab_size=vocab, max_position_embeddings=262144, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": section,
                         "mrope_interleaved": True},
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], tie_word_embeddings=False, **t,
    )
    vision = dict(VISION_TINY)
    vision.update(s["vision"])
    config = make_config(ecg_tok, vocab, tied=False, text=text, vision=vision)
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
        tw = s["tower"]
        tower = EcgTower(12, ECG_PATCH, ECG_TOKENS_PER_SIGNAL, tw["width"], tw["depth"], tw["mlp_width"], pooled_dim=512)
        proj = projector(tw["width"], text["hidden_size"])
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k != "lm_head.weight" or True]
    shapes += [("model.ecg_tower." + k, tuple(v.shape)) for k, v in tower.state_dict().items()]
    shapes += [("model.ecg_projector." + k, tuple(v.shape)) for k, v in proj.state_dict().items()]
    # Shard plan first (names sorted like save_pretrained's order is not needed; keep model order).
    shards, cur, cur_bytes = [], [], 0
    for k, shp in shapes:
        nbytes = int(np.prod(shp)) * 2
        if cur and cur_bytes + nbytes > s["shard_bytes"]:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append((k, shp))
        cur_bytes += nbytes
    if cur:
        shards.append(cur)
    gen = torch.Generator().manual_seed(8)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for k, shp in shard:
            tensors[k] = bench_init(k, shp, gen).to(torch.bfloat16).contiguous()
            weight_map[k] = fname
            total += tensors[k].numel() * 2
        save_file(tensors, os.path.join(out_dir, fname), metadata={"format": "pt"})
        del tensors
        print(f"  {fname}: {len(shard)} tensors", flush=True)
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(out_dir, "model.safetensors.index.json"), "w"), indent=2)
    cfg = released_config_json(config, ecg_config_keys(ecg_tok, s["tower"]["width"]))
    cfg["architectures"] = ["Qwen3VLForConditionalGeneration"]
    cfg["torch_dtype"] = "bfloat16"
    cfg["text_config"]["dtype"] = "bfloat16"
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": ids["<|endoftext|>"], "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
               "pad_token_id": ids["<|endoftext|>"], "do_sample": False},
              open(os.path.join(out_dir, "generation_config.json"), "w"), indent=2)
    # ECG-R1's pixel budget: at most 768 visual tokens (max_pixels 786,432, factor 32).
    save_processor_files(ecg_tok, out_dir, "released", {"shortest_edge": 65536, "longest_edge": 786432})
    from make_model_fixtures import make_images
    small, _ = make_images()
    small.resize((1100, 620), Image.Resampling.BICUBIC).save(os.path.join(out_dir, "bench_ecg.png"))
    n_params = sum(int(np.prod(shp)) for _, shp in shapes)
    print(f"bench checkpoint: {out_dir} ({n_params} parameters, {total / 1e9:.2f} GB bf16, {len(shards)} shards)")
    return out_dir


def check_bench_structure(out_dir):
    """Every tensor the Qwen3-VL model + tower + projector expect is in the shards named by the
    index, with its shape, in bf16 (read from the safetensors headers only)."""
    from safetensors import safe_open

    config = Qwen3VLConfig.from_pretrained(out_dir)
    raw = json.load(open(os.path.join(out_dir, "config.json")))
    index = json.load(open(os.path.join(out_dir, "model.safetensors.index.json")))["weight_map"]
    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {}
    for fname in sorted(set(index.values())):
        with safe_open(os.path.join(out_dir, fname), "pt") as f:
            for k in f.keys():
                sl = f.get_slice(k)
                assert sl.get_dtype() == "BF16", (k, sl.get_dtype())
                assert index[k] == fname, k
                found[k] = tuple(sl.get_shape())
    for k, shp in expected.items():
        assert found.get(k) == shp, (k, found.get(k), shp)
    extra = set(found) - set(expected)
    assert all(k.startswith(("model.ecg_tower.", "model.ecg_projector.")) for k in extra), extra
    w = raw["ecg_hidden_size"]
    assert found["model.ecg_tower.conv1.weight"] == (w, 12, ECG_PATCH)
    assert found["model.ecg_tower.positional_embedding"] == (ECG_TOKENS_PER_SIGNAL, w)
    assert found["model.ecg_projector.2.weight"] == (config.text_config.hidden_size,) * 2
    print(f"bench checkpoint structure: {len(found)} tensors in {len(set(index.values()))} shards, "
          f"{len(extra)} ECG tensors, all bf16 and shaped as transformers expects")


def check_bench_checkpoint(out_dir):
    """Loads what --bench-checkpoint wrote with transformers (Qwen3-VL part) and runs one forward
    with the tower spliced in: proves the directory is a loadable checkpoint (small shapes only:
    the real ones would need ~36 GB in f32)."""
    check_bench_structure(out_dir)
    config = Qwen3VLConfig.from_pretrained(out_dir)
    model = Qwen3VLForConditionalGeneration.from_pretrained(out_dir, config=config, dtype=torch.float32).eval()
    sd = {}
    for f in sorted(os.listdir(out_dir)):
        if f.endswith(".safetensors"):
            sd.update(load_file(os.path.join(out_dir, f)))
    raw = json.load(open(os.path.join(out_dir, "config.json")))
    width = raw["ecg_hidden_size"]
    depth = len({k.split(".")[4] for k in sd if k.startswith("model.ecg_tower.transformer.resblocks.")})
    mlp = sd["model.ecg_tower.transformer.resblocks.0.mlp.c_fc.weight"].shape[0]
    tower = EcgTower(12, ECG_PATCH, ECG_TOKENS_PER_SIGNAL, width, depth, mlp,
                     pooled_dim=sd["model.ecg_tower.proj"].shape[1])
    proj = projector(width, config.text_config.hidden_size)
    tower.load_state_dict({k[16:]: v.float() for k, v in sd.items() if k.startswith("model.ecg_tower.")})
    proj.load_state_dict({k[20:]: v.float() for k, v in sd.items() if k.startswith("model.ecg_projector.")})
    processor = load_processor(out_dir)
    signal, _ = load_ecg_input()
    splice = EcgSplice(raw["ecg_token_id"], ecg_features(tower.eval(), proj.eval(), signal)[1][0])
    model.model.language_model.embed_tokens.register_forward_hook(splice)
    text = processor.apply_chat_template(messages(True, True), tokenize=False, add_generation_prompt=True)
    img = Image.open(os.path.join(out_dir, "bench_ecg.png"))
    inputs = processor(text=[text], images=[img], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert torch.isfinite(logits).all() and splice.calls == 1
    print(f"bench checkpoint check: {inputs['input_ids'].shape[1]} prompt tokens, grid "
          f"{inputs['image_grid_thw'].tolist()}, logits finite, std {float(logits.std()):.3f}")


def bf16_references():
    """transformers in bf16 on the committed tiny Qwen3-VL and ECG-R1 checkpoints (weights rounded
    to bf16 on load, as the engine does with --dtype bf16): the references of the engine's bf16
    parity test, `reference/<name>.bf16.json`."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    images = load_images()
    signal, _ = load_ecg_input()
    for name, with_ecg in [("qwen3vl-tiny", False), ("ecgr1-tiny", True)]:
        ckpt = os.path.join(OUT, name)
        processor = load_processor(ckpt)
        if with_ecg:
            tower_like, proj_like = build_ecg_modules(0, width=64, depth=2, mlp_width=128, hidden=64, proj_gain=1.0)
            model, tower, proj = reload_ecgr1(ckpt, tower_like, proj_like)
            tower, proj = tower.to(torch.bfloat16), proj.to(torch.bfloat16)
            _, projected = ecg_features(tower, proj, signal.to(torch.bfloat16))
            ecg = projected[0]
            splice = EcgSplice(model.config.ecg_token_id, None)
        else:
            model = Qwen3VLForConditionalGeneration.from_pretrained(ckpt, dtype=torch.float32).eval()
            ecg = None
            splice = EcgSplice(-1, None)
        model = model.to(torch.bfloat16)
        model.model.language_model.embed_tokens.register_forward_hook(splice)
        plan = [("text", None, False), ("image", "small", False)]
        if with_ecg:
            plan += [("signal", None, True), ("signal_image", "small", True)]
        cases = []
        for case_name, img_key, use_ecg in plan:
            image = None if img_key is None else images[img_key]
            case, _ = reference_case(model, processor, case_name, image, ecg if use_ecg else None, splice, None, {},
                                     cross_check=False)
            cases.append(case)
            print(f"{name} {case_name}: min greedy top-2 margin {case['min_greedy_top2_margin']:.4f}")
        ref = {"checkpoint": name, "generator": "scripts/make_qwen3vl_fixtures.py --bf16-references",
               "torch": torch.__version__, "transformers": __import__("transformers").__version__,
               "dtype": "bfloat16", "attention": model.config._attn_implementation, "cases": cases}
        json.dump(ref, open(os.path.join(REF, f"{name}.bf16.json"), "w"), indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-checkpoint", metavar="DIR")
    ap.add_argument("--bench-shapes", choices=sorted(BENCH_SHAPES), default="real")
    ap.add_argument("--check", action="store_true", help="with --bench-checkpoint: load it back and run it")
    ap.add_argument("--bf16-references", action="store_true",
                    help="only the bf16 references of the committed tiny checkpoints")
    args = ap.parse_args()
    if args.bf16_references:
        bf16_references()
        return
    if args.bench_checkpoint:
        make_bench_checkpoint(args.bench_checkpoint, args.bench_shapes)
        if args.check:
            if args.bench_shapes == "real":
                check_bench_structure(args.bench_checkpoint)
            else:
                check_bench_checkpoint(args.bench_checkpoint)
        return
    fixtures()


if __name__ == "__main__":
    sys.exit(main())
