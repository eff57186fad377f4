"""Converts the tiny random-weight Qwen2-VL fixture to llama.cpp's GGUF: a float text model and
its mmproj (vision tower + merger), with llama.cpp's own convert_hf_to_gguf.py.

The fixture's 460-token BPE vocabulary is not a tokenizer llama.cpp knows by hash, so its
pre-tokenizer check is answered with "qwen2" (the fixture uses Qwen2's pre-tokenizer regex, as
its tokenizer.json says), and the vocabulary is read from tokenizer.json directly; nothing
else is changed (and the merger's tensor names are looked up for a tower of at least 3 blocks,
below).

    PYTHONPATH=LLAMA/gguf-py python convert_tiny_for_llama.py LLAMA MODEL_DIR OUT_DIR
"""

import json
import pathlib
import sys


def main() -> None:
    llama, model, out = (pathlib.Path(a) for a in sys.argv[1:4])
    out.mkdir(parents=True, exist_ok=True)
    pre = json.loads((model / "tokenizer.json").read_text())["pre_tokenizer"]
    print("fixture pre-tokenizer:", json.dumps(pre)[:200])
    sys.path.insert(0, str(llama))
    import convert_hf_to_gguf  # noqa: E402  (llama.cpp's converter)
    from conversion import base  # noqa: E402

    from conversion import qwenvl  # noqa: E402

    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
    # The fixture has no SentencePiece model: go straight to its BPE tokenizer.json (the
    # converter tries SentencePiece first and only catches a missing file, not a missing module).
    qwenvl.Qwen2VLModel.set_vocab = lambda self: self._set_vocab_gpt2()
    # llama.cpp maps the merger's `visual.merger.mlp.{bid}` through the per-block table, so a
    # tower of depth 2 cannot name `mlp.2`: build the table for at least 3 blocks (extra rows
    # name tensors that do not exist and are never used).
    import gguf  # noqa: E402

    table = gguf.get_tensor_name_map
    base.gguf.get_tensor_name_map = lambda arch, n_blocks: table(arch, max(n_blocks, 3))
    for extra, name in (([], "text-f32.gguf"), (["--mmproj"], "mmproj-f32.gguf")):
        sys.argv = ["convert_hf_to_gguf.py", str(model), "--outtype", "f32",
                    "--outfile", str(out / name), *extra]
        convert_hf_to_gguf.main()
        print("wrote", out / name)


if __name__ == "__main__":
    main()
