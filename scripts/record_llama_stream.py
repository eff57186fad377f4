"""Records one streamed chat completion of a third-party OpenAI-compatible server, byte for byte,
for the remote engine's parsing test: the remote engine's TWI request (ECG-R1's system prompt,
the notes and TWI question as the user text, the image as a base64 data URL, greedy,
logprobs with top_logprobs 20) and the server-sent events it answered.

    python record_llama_stream.py http://127.0.0.1:PORT IMAGE.png "NOTES" OUT_DIR
"""

import base64
import json
import pathlib
import sys
import urllib.request

SYSTEM = ("You are a helpful, harmless clinical ECG assistant. Provide concise, "
          "evidence-based interpretations.")
TWI = ("Is the T-wave inversion on this ECG caused by myocardial ischemia? Think step by step "
       "inside <think></think>, then answer yes or no inside <answer></answer>.")


def main() -> None:
    server, image, notes, out = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
    data = base64.b64encode(image.read_bytes()).decode()
    request = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                {"type": "text", "text": f"{notes}\n\n{TWI}"},
            ]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 12,
        "temperature": 0.0,
        "logprobs": True,
        "top_logprobs": 20,
    }
    req = urllib.request.Request(f"{server}/v1/chat/completions", json.dumps(request).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as resp:
        body = resp.read()
    out.mkdir(parents=True, exist_ok=True)
    (out / "stream.sse").write_bytes(body)
    request["messages"][1]["content"][0]["image_url"]["url"] = f"data:image/png;base64,<{image.name}>"
    (out / "request.json").write_text(json.dumps(request, indent=1) + "\n")
    print("recorded", len(body), "bytes of events")


if __name__ == "__main__":
    main()
