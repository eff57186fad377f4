#!/usr/bin/env python3
"""Independent check of tests/fixtures/model/QWEN3VL_NOTES.md: a from-scratch Qwen3-VL / ECG-R1
forward in plain torch (no transformers modules; only the committed fixture files: safetensors
weights, config.json, the pixel and ECG-input files, the reference JSON's input_ids) written
from the rules in the notes. It recomputes, for every case, the prompt's positions and the
first-step logits and compares them with the transformers reference (intermediates_*.safetensors
and the JSON's top_logprobs), and the image features / deepstack features / interpolated position
embeddings / ECG features. If this passes, the notes describe what transformers does.

Usage: .venv/bin/python scripts/check_qwen3vl_notes.py
"""

import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures", "model")
REF = os.path.join(FIX, "reference")


def cfg_of(ckpt):
    c = json.load(open(os.path.join(FIX, ckpt, "config.json")))
    t, v = c["text_config"], c["vision_config"]
    rope = t.get("rope_parameters") or dict(t["rope_scaling"], rope_theta=t["rope_theta"])
    return c, t, v, rope


def rms(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


# ---------------------------------------------------------------------------------------------
# Vision


def interp_pos(table, gh, gw, merge):
    side = int(math.isqrt(table.shape[0]))
    rows, cols = [], []
    for br in range(gh // merge):
        for bc in range(gw // merge):
            for ir in range(merge):
                for ic in range(merge):
                    rows.append(br * merge + ir)
                    cols.append(bc * merge + ic)
    out = []
    for r, c in zip(rows, cols):
        sr = r * (side - 1) / max(gh - 1, 1)
        sc = c * (side - 1) / max(gw - 1, 1)
        acc = torch.zeros(table.shape[1])
        for tr in (math.floor(sr), math.floor(sr) + 1):
            wr = max(0.0, 1 - abs(sr - tr))
            for tc in (math.floor(sc), math.floor(sc) + 1):
                wc = max(0.0, 1 - abs(sc - tc))
                acc = acc + wr * wc * table[min(max(tr, 0), side - 1) * side + min(max(tc, 0), side - 1)]
        out.append(acc)
    return torch.stack(out), torch.tensor(rows), torch.tensor(cols)


def vision_forward(sd, v, pixels, grid):
    t, gh, gw = grid
    merge = v["spatial_merge_size"]
    hid = v["hidden_size"]
    heads = v["num_heads"]
    hd = hid // heads
    p = "model.visual."
    w = sd[p + "patch_embed.proj.weight"].reshape(hid, -1)
    x = pixels @ w.T + sd[p + "patch_embed.proj.bias"]
    pos, rows, cols = interp_pos(sd[p + "pos_embed.weight"], gh, gw, merge)
    x = x + pos.repeat(t, 1)
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd // 2, 2, dtype=torch.float) / (hd // 2)))
    ang = torch.cat([rows.repeat(t)[:, None] * inv, cols.repeat(t)[:, None] * inv], -1)
    ang = torch.cat([ang, ang], -1)
    cos, sin = ang.cos(), ang.sin()
    deep = []
    n = x.shape[0]

    def merger(h, pre, post):
        if post:
            h = h.reshape(-1, hid * merge * merge)
            h = F.layer_norm(h, (h.shape[-1],), sd[pre + "norm.weight"], sd[pre + "norm.bias"], 1e-6)
        else:
            h = F.layer_norm(h, (hid,), sd[pre + "norm.weight"], sd[pre + "norm.bias"], 1e-6)
            h = h.reshape(-1, hid * merge * merge)
        h = F.linear(h, sd[pre + "linear_fc1.weight"], sd[pre + "linear_fc1.bias"])
        h = F.gelu(h)
        return F.linear(h, sd[pre + "linear_fc2.weight"], sd[pre + "linear_fc2.bias"])

    for i in range(v["depth"]):
        b = f"{p}blocks.{i}."
        h = F.layer_norm(x, (hid,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], 1e-6)
        qkv = F.linear(h, sd[b + "attn.qkv.weight"], sd[b + "attn.qkv.bias"]).reshape(n, 3, heads, hd)
        q, k, vv = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        q = q * cos[:, None] + rotate_half(q) * sin[:, None]
        k = k * cos[:, None] + rotate_half(k) * sin[:, None]
        att = torch.einsum("qhd,khd->hqk", q, k) * hd**-0.5
        o = torch.einsum("hqk,khd->qhd", att.softmax(-1), vv).reshape(n, hid)
        x = x + F.linear(o, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
        h = F.layer_norm(x, (hid,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], 1e-6)
        h = F.linear(h, sd[b + "mlp.linear_fc1.weight"], sd[b + "mlp.linear_fc1.bias"])
        h = F.gelu(h, approximate="tanh")
        x = x + F.linear(h, sd[b + "mlp.linear_fc2.weight"], sd[b + "mlp.linear_fc2.bias"])
        if i in v["deepstack_visual_indexes"]:
            k_ = v["deepstack_visual_indexes"].index(i)
            deep.append(merger(x, f"{p}deepstack_merger_list.{k_}.", post=True))
    return merger(x, p + "merger.", post=False), deep, pos


# ---------------------------------------------------------------------------------------------
# ECG tower


def ecg_forward(sd, signal):
    p = "model.ecg_tower."
    conv = sd[p + "conv1.weight"]
    width, _, patch = conv.shape
    x = F.conv1d(signal, conv, stride=patch).permute(0, 2, 1)[0]
    x = torch.cat([sd[p + "class_embedding"][None], x], 0) + sd[p + "positional_embedding"]
    x = F.layer_norm(x, (width,), sd[p + "ln_pre.weight"], sd[p + "ln_pre.bias"], 1e-5)
    heads = width // 64
    hd = width // heads
    i = 0
    while f"{p}transformer.resblocks.{i}.ln_1.weight" in sd:
        b = f"{p}transformer.resblocks.{i}."
        h = F.layer_norm(x, (width,), sd[b + "ln_1.weight"], sd[b + "ln_1.bias"], 1e-5)
        qkv = F.linear(h, sd[b + "attn.in_proj_weight"], sd[b + "attn.in_proj_bias"])
        q, k, vv = [t.reshape(-1, heads, hd) for t in qkv.chunk(3, -1)]
        att = torch.einsum("qhd,khd->hqk", q, k) * hd**-0.5
        o = torch.einsum("hqk,khd->qhd", att.softmax(-1), vv).reshape(-1, width)
        x = x + F.linear(o, sd[b + "attn.out_proj.weight"], sd[b + "attn.out_proj.bias"])
        h = F.layer_norm(x, (width,), sd[b + "ln_2.weight"], sd[b + "ln_2.bias"], 1e-5)
        h = F.gelu(F.linear(h, sd[b + "mlp.c_fc.weight"], sd[b + "mlp.c_fc.bias"]))
        x = x + F.linear(h, sd[b + "mlp.c_proj.weight"], sd[b + "mlp.c_proj.bias"])
        i += 1
    tokens = x
    p = "model.ecg_projector."
    h = F.gelu(F.linear(x, sd[p + "0.weight"], sd[p + "0.bias"]))
    return tokens, F.linear(h, sd[p + "2.weight"], sd[p + "2.bias"])


# ---------------------------------------------------------------------------------------------
# Text


def rope_index(ids, image_id, grids, merge):
    pos, p, i, gi = [], 0, 0, 0
    while i < len(ids):
        if ids[i] == image_id:
            t, h, w = grids[gi]
            gi += 1
            hh, ww = h // merge, w // merge
            for ti in range(t):
                for r in range(hh):
                    for c in range(ww):
                        pos.append((p + ti, p + r, p + c))
            i += t * hh * ww
            p += max(h, w) // merge
        else:
            pos.append((p, p, p))
            p += 1
            i += 1
    return torch.tensor(pos).T  # [3, L]


def text_forward(sd, c, t, rope, embeds, pos, image_mask, deep):
    hid, heads, kvh, hd = t["hidden_size"], t["num_attention_heads"], t["num_key_value_heads"], t["head_dim"]
    eps = t["rms_norm_eps"]
    sec = rope["mrope_section"]
    inv = 1.0 / (rope["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float) / hd))
    axis = []
    for j in range(hd // 2):
        if j % 3 == 1 and j < 3 * sec[1]:
            axis.append(1)
        elif j % 3 == 2 and j < 3 * sec[2]:
            axis.append(2)
        else:
            axis.append(0)
    ang = torch.stack([pos[a].float() * inv[j] for j, a in enumerate(axis)], -1)
    ang = torch.cat([ang, ang], -1)
    cos, sin = ang.cos(), ang.sin()
    L = embeds.shape[0]
    mask = torch.full((L, L), float("-inf")).triu(1)
    x = embeds
    p = "model.language_model."
    for li in range(t["num_hidden_layers"]):
        b = f"{p}layers.{li}."
        h = rms(x, sd[b + "input_layernorm.weight"], eps)
        q = F.linear(h, sd[b + "self_attn.q_proj.weight"]).reshape(L, heads, hd)
        k = F.linear(h, sd[b + "self_attn.k_proj.weight"]).reshape(L, kvh, hd)
        vv = F.linear(h, sd[b + "self_attn.v_proj.weight"]).reshape(L, kvh, hd)
        q = rms(q, sd[b + "self_attn.q_norm.weight"], eps)
        k = rms(k, sd[b + "self_attn.k_norm.weight"], eps)
        q = q * cos[:, None] + rotate_half(q) * sin[:, None]
        k = k * cos[:, None] + rotate_half(k) * sin[:, None]
        k = k.repeat_interleave(heads // kvh, 1)
        vv = vv.repeat_interleave(heads // kvh, 1)
        att = torch.einsum("qhd,khd->hqk", q, k) * hd**-0.5 + mask
        o = torch.einsum("hqk,khd->qhd", att.softmax(-1), vv).reshape(L, heads * hd)
        x = x + F.linear(o, sd[b + "self_attn.o_proj.weight"])
        h = rms(x, sd[b + "post_attention_layernorm.weight"], eps)
        h = F.silu(F.linear(h, sd[b + "mlp.gate_proj.weight"])) * F.linear(h, sd[b + "mlp.up_proj.weight"])
        x = x + F.linear(h, sd[b + "mlp.down_proj.weight"])
        if deep is not None and li < len(deep):
            x = x.clone()
            x[image_mask] = x[image_mask] + deep[li]
    x = rms(x, sd[p + "norm.weight"], eps)
    head = sd.get("lm_head.weight", sd[p + "embed_tokens.weight"])
    return F.linear(x, head)


def check(ckpt):
    c, t, v, rope = cfg_of(ckpt)
    sd = load_file(os.path.join(FIX, ckpt, "model.safetensors"))
    ref = json.load(open(os.path.join(REF, f"{ckpt}.json")))
    inter = load_file(os.path.join(REF, f"intermediates_{ckpt}.safetensors"))
    worst = {}

    def note(key, a, b):
        d = float((a.double() - b.double()).abs().max())
        worst[key] = max(worst.get(key, 0.0), d)

    ecg_feats = None
    if "ecg_token_id" in c:
        signal = load_file(os.path.join(REF, "ecg_input_synthetic_sinus.safetensors"))["ecg"]
        tokens, ecg_feats = ecg_forward(sd, signal)
        note("ecg.tokens", tokens, inter["ecg.tokens"][0])
        note("ecg.projected", ecg_feats, inter["ecg.projected"][0])
    for case in ref["cases"]:
        ids = torch.tensor(case["input_ids"])
        embeds = sd["model.language_model.embed_tokens.weight"][ids].clone()
        image_mask = ids == c["image_token_id"]
        deep = None
        grids = []
        if case["image"] is not None:
            px = load_file(os.path.join(REF, case["pixel_values_file"]))
            grid = px["image_grid_thw"][0].tolist()
            assert grid == case["image_grid_thw"][0]
            grids = [grid]
            feats, deep, pos_emb = vision_forward(sd, v, px["pixel_values"], grid)
            key = "tiny" if case["image"] == "ecg_tiny.png" else "small"
            note("image_embeds", feats, inter[f"{key}.image_embeds"])
            note("pos_embeds", pos_emb, inter[f"{key}.pos_embeds"])
            for k_, dfe in enumerate(deep):
                note("deepstack", dfe, inter[f"{key}.deepstack.{k_}"])
            embeds[image_mask] = feats
        if case["ecg"] is not None:
            where = (ids == c["ecg_token_id"]).nonzero().flatten()[: ecg_feats.shape[0]]
            embeds[where] = ecg_feats
        pos = rope_index(ids.tolist(), c["image_token_id"], grids, v["spatial_merge_size"])
        assert torch.equal(pos, inter[f"{case['name']}.position_ids"]), f"{ckpt}/{case['name']}: positions"
        logits = text_forward(sd, c, t, rope, embeds, pos, image_mask, deep)[-1]
        note("first_logits", logits, inter[f"{case['name']}.first_logits"])
        lp = torch.log_softmax(logits.double(), -1)
        top = torch.topk(lp, 20)
        assert top.indices.tolist() == [i for i, _ in case["top_logprobs"]], f"{ckpt}/{case['name']}: top-20 ids"
        note("top_logprobs", top.values, torch.tensor([x for _, x in case["top_logprobs"]]))
    return worst


def main():
    torch.set_num_threads(1)
    ok = True
    for ckpt in ["qwen3vl-tiny", "ecgr1-tiny"]:
        worst = check(ckpt)
        print(ckpt, json.dumps({k: f"{d:.2e}" for k, d in worst.items()}))
        ok &= all(d < 1e-4 for d in worst.values())
    print("notes check:", "OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
