#!/usr/bin/env python3
"""Reference half of `ecgr1 model bench`: the same checkpoint, image and prompt through
Hugging Face transformers on the CPU. Prints one JSON line:
{"load_s", "prefill_s", "prompt_tokens", "decode_tokens_per_s", "peak_rss_mib"}.

Usage: python scripts/bench_transformers.py --model DIR --image FILE [--notes TEXT]
       [--new-tokens N] [--dtype f32|bf16|f16]
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--notes", default="")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--dtype", default="f32", choices=sorted(DTYPES))
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    t = time.perf_counter()
    model = Qwen2VLForConditionalGeneration.from_pretrained(args.model, dtype=DTYPES[args.dtype]).eval()
    load_s = time.perf_counter() - t
    processor = load_processor(args.model, check_template=False)
    text_part = (args.notes.strip() + "\n\n" + QUESTION) if args.notes.strip() else QUESTION
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text_part}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = Image.open(args.image).convert("RGB")
    inputs = processor(text=[text], images=[image], return_tensors="pt")

    with torch.no_grad():
        t = time.perf_counter()
        out = model(**inputs, use_cache=True)
        prefill_s = time.perf_counter() - t
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        steps = max(args.new_tokens - 1, 1)
        t = time.perf_counter()
        for _ in range(steps):
            # No attention mask: with one, transformers would derive positions for the whole
            # sequence; without, it continues from the cache with the stored M-RoPE delta.
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        decode_s = time.perf_counter() - t
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "load_s": load_s,
                "prefill_s": prefill_s,
                "prompt_tokens": int(inputs["input_ids"].shape[1]),
                "decode_tokens_per_s": steps / decode_s,
                "peak_rss_mib": peak_kib / 1024.0,
            }
        )
    )


if __name__ == "__main__":
    main()
