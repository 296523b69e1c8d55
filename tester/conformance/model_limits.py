"""Lists a Switchyard server's models with the official openai, anthropic and google-genai
SDKs and prints, per SDK, each model's context window and output limit as the SDK reads
them: {"openai": {id: [context, max_output]}, "anthropic": {...}, "gemini": {...}}, and
the endpoints each serves as the SDKs read them: "openai_endpoints" and
"anthropic_endpoints" ({id: [path, ...]}, the extra `endpoints` field each SDK keeps),
"gemini_methods" ({name: [method, ...]}, google-genai's `supported_actions`).

Usage: model_limits.py BASE_URL CLIENT_KEY
"""

import json
import sys

import anthropic
import openai
from google import genai
from google.genai import types as gt


def main():
    base_url, key = sys.argv[1], sys.argv[2]
    out = {}
    oa = openai.OpenAI(api_key=key, base_url=f"{base_url}/v1", max_retries=0)
    # OpenAI's Model has no limit fields; the SDK keeps the extra ones the server sends.
    out["openai"] = {
        m.id: [getattr(m, "context_window", None), getattr(m, "max_output_tokens", None)]
        for m in oa.models.list()
    }
    out["openai_endpoints"] = {m.id: getattr(m, "endpoints", None) for m in oa.models.list()}
    an = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)
    out["anthropic"] = {m.id: [m.max_input_tokens, m.max_tokens] for m in an.models.list()}
    out["anthropic_endpoints"] = {m.id: getattr(m, "endpoints", None) for m in an.models.list()}
    # Switchyard serves Gemini's API at /v1beta, as the conformance matrix's client is set.
    g = genai.Client(
        api_key=key, http_options=gt.HttpOptions(base_url=base_url, api_version="v1beta")
    )
    out["gemini"] = {
        m.name: [m.input_token_limit, m.output_token_limit] for m in g.models.list()
    }
    out["gemini_methods"] = {m.name: m.supported_actions for m in g.models.list()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
