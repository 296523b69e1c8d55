"""Token counts through Switchyard with the official SDKs: anthropic's
`messages.count_tokens` and google-genai's `models.count_tokens`, one call per model
named on the command line. Prints one JSON report: per call the count, the
`x-switchyard-token-count` header (where the number came from) and any error.

usage: sdk_count_tokens.py BASE_URL KEY MODEL [MODEL ...]
"""

import json
import sys

import anthropic
from google import genai
from google.genai import types

HEADER = "x-switchyard-token-count"
PROMPT = "count these five words please"


def claude(base, key, model):
    client = anthropic.Anthropic(api_key=key, base_url=base, max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(
        model=model,
        system="be brief",
        messages=[{"role": "user", "content": PROMPT}],
    )
    return raw.parse().input_tokens, raw.headers.get(HEADER)


def google(base, key, model):
    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=base, api_version="v1beta"),
    )
    res = client.models.count_tokens(model=model, contents=PROMPT)
    http = getattr(res, "sdk_http_response", None)
    headers = (getattr(http, "headers", None) or {}) if http else {}
    header = next((v for k, v in headers.items() if k.lower() == HEADER), None)
    return res.total_tokens, header


def main():
    base, key, models = sys.argv[1], sys.argv[2], sys.argv[3:]
    cases = []
    for model in models:
        for name, call in (("anthropic", claude), ("google-genai", google)):
            case = {"sdk": name, "model": model}
            try:
                case["tokens"], case["header"] = call(base, key, model)
            except Exception as e:  # reported per case, the run goes on
                case["error"] = f"{type(e).__name__}: {e}"
            cases.append(case)
    print(json.dumps(cases))


if __name__ == "__main__":
    main()
