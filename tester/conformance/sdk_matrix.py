#!/usr/bin/env python3
"""Drives the official SDKs (openai, anthropic, google-genai) against a running Switchyard.

Every client API is run against every provider alias given, in each scenario:

* text        the fake's text arrives intact (and usage, where the API reports it), with
              the prompt-cache reads the provider reported in the client's own usage field
              (chat ``prompt_tokens_details.cached_tokens``, Responses
              ``input_tokens_details.cached_tokens``, Anthropic ``cache_read_input_tokens``
              and ``cache_creation_input_tokens``, Gemini ``cached_content_token_count``);
* tool        a tool named ``Run_Cmd`` (mixed case, so a name that is not round-tripped
              byte-exact shows) is declared and called, its result goes back with the SDK's
              own types, and the final answer carries ``after tool:`` and the output;
* think       reasoning surfaces where the client format has a place for it (Anthropic
              thinking block with signature, Responses reasoning item, Gemini thought parts);
              OpenAI chat has no such place, so ``reasoning_content`` is only reported;
* think_tool  both at once: the reasoning is replayed with the tool call, as coding agents do.

The clients are strict: ``max_retries=0``, no retries in google-genai. The fakes behind the
proxy are scripted from the prompt (``#tool=NAME``, ``#think``).

Usage:
    sdk_matrix.py BASE_URL CLIENT_KEY ALIAS [ALIAS...] [--expect JSON] [--only TEXT]

``--expect`` maps an alias to what its fake says:
``{"m_openai": {"text": ["Hello from the fake", "tok0 tok1 tok2 "], "cache": {"read": 3}}}``;
without ``text`` any non-empty text passes. ``cache`` is what the provider reports of its
prompt cache: ``{"read": N, "write": M}`` (``write`` only Anthropic-shaped providers report),
or ``"none"`` for a provider with no cache notion, whose answers must then report no cache
reads in any client format; without ``cache`` the cache fields are not checked. ``--only`` runs the cases whose name contains TEXT.

Prints a JSON report ``{"passed", "failed", "requests", "cases": [...]}`` on stdout, where
``requests`` counts the HTTP requests sent to the proxy, and exits 1 if any case failed.
"""

import argparse
import json
import sys
import traceback

import anthropic
import httpx2
import openai
from google import genai
from google.genai import types as gt

TOOL = "Run_Cmd"
TOOL_OUTPUT = "tool-output-7f3a"
AFTER_TOOL = "after tool:"
SCHEMA = {
    "type": "object",
    "properties": {"cmd": {"type": "string", "description": "The command to run"}},
    "required": ["cmd"],
}
TIMEOUT = 60.0
# A usage field the client format does not have (only Anthropic's has cache writes).
NO_FIELD = object()


class CheckFailed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise CheckFailed(message)


class Requests:
    """Counts the HTTP requests the SDKs send."""

    def __init__(self):
        self.count = 0

    def hook(self, _request):
        self.count += 1

    def client(self):
        return httpx2.Client(timeout=TIMEOUT, event_hooks={"request": [self.hook]})


def prompt(scenario):
    return {
        "text": "say hi",
        "tool": f"#tool={TOOL} run something",
        "think": "#think say hi",
        "think_tool": f"#think #tool={TOOL} run something",
    }[scenario]


class Turn:
    """One model answer, in terms every client shares."""

    def __init__(self):
        self.text = ""
        self.calls = []  # (id, name, arguments as dict)
        self.reasoning = ""  # reasoning or thinking text
        self.signatures = []  # thinking signatures / encrypted reasoning
        self.stop = None
        self.usage = None
        self.replay = None  # what the client sends back for this turn
        self.notes = {}


def parse_args_json(raw):
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError as e:
        raise CheckFailed(f"tool arguments are not JSON ({e}): {raw!r}")
    check(isinstance(value, dict), f"tool arguments are not an object: {raw!r}")
    return value


# --- OpenAI chat completions -------------------------------------------------------------


def chat_tools():
    return [
        {
            "type": "function",
            "function": {"name": TOOL, "description": "Run a shell command", "parameters": SCHEMA},
        }
    ]


def chat_turn_from_message(message, finish, usage):
    turn = Turn()
    turn.text = message.content or ""
    turn.stop = finish
    turn.usage = usage
    extra = message.model_extra or {}
    turn.reasoning = extra.get("reasoning_content") or ""
    if extra.get("reasoning_signature"):
        turn.signatures.append(extra["reasoning_signature"])
    for tc in message.tool_calls or []:
        turn.calls.append((tc.id, tc.function.name, parse_args_json(tc.function.arguments)))
    # The whole message goes back, extensions included, as a client that keeps it does.
    turn.replay = [message.model_dump(exclude_none=True)]
    return turn


def chat_call(mode, oa, alias, messages, tools, think):
    kw = {"model": alias, "messages": messages}
    if tools:
        kw["tools"] = tools
    if think:
        kw["reasoning_effort"] = "medium"
    if mode == "create":
        r = oa.chat.completions.create(**kw)
        check(r.choices, f"no choices: {r}")
        return chat_turn_from_message(r.choices[0].message, r.choices[0].finish_reason, r.usage)
    if mode == "helper":
        with oa.chat.completions.stream(**kw, stream_options={"include_usage": True}) as s:
            for _ in s:
                pass
            final = s.get_final_completion()
        check(final.choices, f"no choices: {final}")
        return chat_turn_from_message(
            final.choices[0].message, final.choices[0].finish_reason, final.usage
        )
    # A raw stream, accumulated by hand the way most clients do.
    turn = Turn()
    calls = {}
    message = {"role": "assistant"}
    signature = ""
    usage_chunks = 0
    for chunk in oa.chat.completions.create(
        **kw, stream=True, stream_options={"include_usage": True}
    ):
        if chunk.usage is not None:
            usage_chunks += 1
            turn.usage = chunk.usage
        for choice in chunk.choices:
            d = choice.delta
            if d.content:
                turn.text += d.content
            extra = d.model_extra or {}
            if extra.get("reasoning_content"):
                turn.reasoning += extra["reasoning_content"]
            if extra.get("reasoning_signature"):
                signature += extra["reasoning_signature"]
            for tc in d.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
            if choice.finish_reason:
                turn.stop = choice.finish_reason
    check(usage_chunks == 1, f"include_usage: expected 1 usage chunk, got {usage_chunks}")
    message["content"] = turn.text or None
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
    if signature:
        message["reasoning_signature"] = signature
        turn.signatures.append(signature)
    if calls:
        message["tool_calls"] = []
        for _, c in sorted(calls.items()):
            turn.calls.append((c["id"], c["name"], parse_args_json(c["arguments"])))
            message["tool_calls"].append(
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
            )
    turn.replay = [message]
    return turn


def run_chat(mode):
    def run(ctx, alias, scenario):
        oa = ctx.openai
        tools = chat_tools() if "tool" in scenario else None
        think = "think" in scenario
        messages = [{"role": "user", "content": prompt(scenario)}]
        turn = chat_call(mode, oa, alias, messages, tools, think)
        ctx.notes["reasoning_content"] = bool(turn.reasoning)
        if tools:
            check_tool_turn(turn, "tool_calls")
            messages += turn.replay
            for call_id, _, _ in turn.calls:
                messages.append({"role": "tool", "tool_call_id": call_id, "content": TOOL_OUTPUT})
            turn = chat_call(mode, oa, alias, messages, tools, think)
            check_after_tool(turn, "stop")
        else:
            ctx.check_text(alias, turn)
            check(turn.stop == "stop", f"finish_reason {turn.stop!r}, expected 'stop'")
        check(turn.usage is not None, "no usage")
        details = turn.usage.prompt_tokens_details
        ctx.check_cache(alias, details.cached_tokens if details else None)

    return run


# --- OpenAI Responses ----------------------------------------------------------------------


def responses_tools():
    return [
        {
            "type": "function",
            "name": TOOL,
            "description": "Run a shell command",
            "parameters": SCHEMA,
            "strict": False,
        }
    ]


def responses_turn(r):
    turn = Turn()
    turn.text = r.output_text
    turn.stop = r.status
    turn.usage = r.usage
    for item in r.output:
        if item.type == "function_call":
            turn.calls.append((item.call_id, item.name, parse_args_json(item.arguments)))
        elif item.type == "reasoning":
            texts = [s.text for s in item.summary or []]
            texts += [c.text for c in getattr(item, "content", None) or []]
            turn.reasoning += "".join(texts)
            if item.encrypted_content:
                turn.signatures.append(item.encrypted_content)
            turn.notes["reasoning_item"] = True
    turn.replay = list(r.output)
    return turn


def responses_call(mode, oa, alias, items, tools, think):
    kw = {"model": alias, "input": items, "store": False}
    if tools:
        kw["tools"] = tools
    if think:
        kw["reasoning"] = {"effort": "medium", "summary": "auto"}
        kw["include"] = ["reasoning.encrypted_content"]
    if mode == "create":
        return responses_turn(oa.responses.create(**kw))
    if mode == "helper":
        with oa.responses.stream(**kw) as s:
            for _ in s:
                pass
            return responses_turn(s.get_final_response())
    events = list(oa.responses.create(**kw, stream=True))
    types = [e.type for e in events]
    check(types and types[0] == "response.created", f"first event {types[:1]}, expected response.created")
    check(types[-1] == "response.completed", f"last event {types[-1:]}, expected response.completed")
    final = events[-1].response
    done = [e.item for e in events if e.type == "response.output_item.done"]
    added = [e for e in events if e.type == "response.output_item.added"]
    check(
        len(done) == len(added) == len(final.output),
        f"{len(added)} output_item.added, {len(done)} output_item.done, {len(final.output)} output items",
    )
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    turn = responses_turn(final)
    check(deltas == turn.text, f"text deltas {deltas!r} differ from the final text {turn.text!r}")
    return turn


def run_responses(mode):
    def run(ctx, alias, scenario):
        oa = ctx.openai
        tools = responses_tools() if "tool" in scenario else None
        think = "think" in scenario
        items = [{"role": "user", "content": prompt(scenario)}]
        turn = responses_call(mode, oa, alias, items, tools, think)
        if think:
            check(
                turn.notes.get("reasoning_item") and (turn.reasoning or turn.signatures),
                "no reasoning item with summary, content or encrypted_content in the output",
            )
        if tools:
            check_tool_turn(turn, "completed")
            items += turn.replay
            for call_id, _, _ in turn.calls:
                items.append({"type": "function_call_output", "call_id": call_id, "output": TOOL_OUTPUT})
            turn = responses_call(mode, oa, alias, items, tools, think)
            check_after_tool(turn, "completed")
        else:
            ctx.check_text(alias, turn)
            check(turn.stop == "completed", f"status {turn.stop!r}, expected 'completed'")
        check(turn.usage is not None, "no usage")
        details = turn.usage.input_tokens_details
        ctx.check_cache(alias, details.cached_tokens if details else None)

    return run


# --- Anthropic Messages ----------------------------------------------------------------------


def anthropic_tools():
    return [{"name": TOOL, "description": "Run a shell command", "input_schema": SCHEMA}]


def anthropic_turn(content, stop, usage):
    turn = Turn()
    turn.stop = stop
    turn.usage = usage
    for b in content:
        kind = b["type"] if isinstance(b, dict) else b.type
        get = (lambda k: b.get(k)) if isinstance(b, dict) else (lambda k: getattr(b, k, None))
        if kind == "text":
            turn.text += get("text") or ""
        elif kind == "thinking":
            turn.reasoning += get("thinking") or ""
            turn.signatures.append(get("signature"))
        elif kind == "tool_use":
            inp = get("input")
            check(isinstance(inp, dict), f"tool_use input is not an object: {inp!r}")
            turn.calls.append((get("id"), get("name"), inp))
    turn.replay = content
    return turn


def anthropic_raw_stream(an, kw):
    """Accumulates a raw event stream by hand, checking the order the SDK helpers rely on."""
    blocks = {}
    open_blocks = set()
    stop = None
    usage = None
    seen = []
    for ev in an.messages.create(**kw, stream=True):
        seen.append(ev.type)
        if ev.type == "message_start":
            usage = ev.message.usage
        elif ev.type == "content_block_start":
            check(ev.index not in blocks, f"content_block_start {ev.index} twice")
            blocks[ev.index] = ev.content_block.model_dump(exclude_none=True)
            if blocks[ev.index]["type"] == "tool_use":
                blocks[ev.index]["partial"] = ""
            open_blocks.add(ev.index)
        elif ev.type == "content_block_delta":
            check(ev.index in open_blocks, f"delta for block {ev.index} that is not open")
            b, d = blocks[ev.index], ev.delta
            if d.type == "text_delta":
                b["text"] = b.get("text", "") + d.text
            elif d.type == "thinking_delta":
                b["thinking"] = b.get("thinking", "") + d.thinking
            elif d.type == "signature_delta":
                b["signature"] = b.get("signature", "") + d.signature
            elif d.type == "input_json_delta":
                b["partial"] += d.partial_json
        elif ev.type == "content_block_stop":
            check(ev.index in open_blocks, f"content_block_stop for block {ev.index} that is not open")
            open_blocks.discard(ev.index)
        elif ev.type == "message_delta":
            stop = ev.delta.stop_reason
            # Cumulative totals: a field the delta carries overwrites message_start's, one
            # it omits keeps it (what the SDK's own accumulator does).
            for field in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
                value = getattr(ev.usage, field, None)
                if value is not None:
                    setattr(usage, field, value)
            usage.output_tokens = ev.usage.output_tokens
    check(seen[:1] == ["message_start"], f"first event {seen[:1]}, expected message_start")
    check(not open_blocks, f"blocks never stopped: {sorted(open_blocks)}")
    check("message_stop" in seen, "no message_stop")
    content = []
    for _, b in sorted(blocks.items()):
        if b["type"] == "tool_use":
            b["input"] = parse_args_json(b.pop("partial")) if b.get("partial") else b.get("input", {})
        content.append(b)
    return content, stop, usage


def anthropic_call(mode, an, alias, messages, tools, think):
    kw = {"model": alias, "max_tokens": 2048, "messages": messages}
    if tools:
        kw["tools"] = tools
    if think:
        kw["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    if mode == "create":
        m = an.messages.create(**kw)
        return anthropic_turn(m.content, m.stop_reason, m.usage)
    if mode == "helper":
        with an.messages.stream(**kw) as s:
            streamed = "".join(s.text_stream)
            m = s.get_final_message()
        turn = anthropic_turn(m.content, m.stop_reason, m.usage)
        check(streamed == turn.text, f"text_stream {streamed!r} differs from the final text {turn.text!r}")
        return turn
    content, stop, usage = anthropic_raw_stream(an, kw)
    return anthropic_turn(content, stop, usage)


def run_anthropic(mode):
    def run(ctx, alias, scenario):
        an = ctx.anthropic
        tools = anthropic_tools() if "tool" in scenario else None
        think = "think" in scenario
        messages = [{"role": "user", "content": prompt(scenario)}]
        turn = anthropic_call(mode, an, alias, messages, tools, think)
        if think:
            check_thinking(turn)
        if tools:
            check_tool_turn(turn, "tool_use")
            messages.append({"role": "assistant", "content": turn.replay})
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": call_id, "content": TOOL_OUTPUT}
                        for call_id, _, _ in turn.calls
                    ],
                }
            )
            turn = anthropic_call(mode, an, alias, messages, tools, think)
            check_after_tool(turn, "end_turn")
        else:
            ctx.check_text(alias, turn)
            check(turn.stop == "end_turn", f"stop_reason {turn.stop!r}, expected 'end_turn'")
        check(turn.usage is not None and turn.usage.output_tokens is not None, "no usage")
        ctx.check_cache(
            alias, turn.usage.cache_read_input_tokens, turn.usage.cache_creation_input_tokens
        )

    return run


def check_thinking(turn):
    check(turn.reasoning, "no thinking block with thinking text")
    check(
        all(isinstance(s, str) for s in turn.signatures),
        f"thinking block without a signature: {turn.signatures!r}",
    )


def run_anthropic_count(ctx, alias, scenario):
    r = ctx.anthropic.messages.count_tokens(
        model=alias,
        system="You are terse.",
        messages=[{"role": "user", "content": "How many tokens is this?"}],
        tools=anthropic_tools(),
    )
    check(isinstance(r.input_tokens, int) and r.input_tokens > 0, f"input_tokens {r.input_tokens!r}")


# --- Gemini ----------------------------------------------------------------------------------


def gemini_config(tools, think):
    kw = {}
    if tools:
        kw["tools"] = [
            gt.Tool(
                function_declarations=[
                    gt.FunctionDeclaration(
                        name=TOOL, description="Run a shell command", parameters_json_schema=SCHEMA
                    )
                ]
            )
        ]
    if think:
        kw["thinking_config"] = gt.ThinkingConfig(include_thoughts=True)
    return gt.GenerateContentConfig(**kw) if kw else None


def gemini_turn(parts, finish, usage):
    turn = Turn()
    turn.stop = finish
    turn.usage = usage
    for p in parts:
        if p.thought_signature:
            turn.signatures.append(p.thought_signature)
        if p.function_call:
            fc = p.function_call
            check(isinstance(fc.args, dict), f"function call args are not an object: {fc.args!r}")
            turn.calls.append((fc.id, fc.name, fc.args))
        elif p.thought and p.text:
            turn.reasoning += p.text
        elif p.text:
            turn.text += p.text
    turn.replay = gt.Content(role="model", parts=list(parts))
    return turn


def gemini_call(mode, gc, alias, contents, tools, think):
    config = gemini_config(tools, think)
    if mode == "create":
        r = gc.models.generate_content(model=alias, contents=contents, config=config)
        check(r.candidates, f"no candidates: {r}")
        c = r.candidates[0]
        return gemini_turn(c.content.parts or [] if c.content else [], c.finish_reason, r.usage_metadata)
    parts, finish, usage = [], None, None
    chunks = 0
    for chunk in gc.models.generate_content_stream(model=alias, contents=contents, config=config):
        chunks += 1
        if chunk.usage_metadata:
            usage = chunk.usage_metadata
        for c in chunk.candidates or []:
            if c.content and c.content.parts:
                parts.extend(c.content.parts)
            if c.finish_reason:
                finish = c.finish_reason
    check(chunks > 0, "empty stream")
    return gemini_turn(parts, finish, usage)


def run_gemini(mode):
    def run(ctx, alias, scenario):
        gc = ctx.genai
        tools = "tool" in scenario
        think = "think" in scenario
        contents = [gt.Content(role="user", parts=[gt.Part(text=prompt(scenario))])]
        turn = gemini_call(mode, gc, alias, contents, tools, think)
        if think:
            check(turn.reasoning or turn.signatures, "no thought part and no thought signature")
        if tools:
            check_tool_turn(turn, gt.FinishReason.STOP)
            contents.append(turn.replay)
            contents.append(
                gt.Content(
                    role="user",
                    parts=[
                        gt.Part(
                            function_response=gt.FunctionResponse(
                                id=call_id, name=name, response={"output": TOOL_OUTPUT}
                            )
                        )
                        for call_id, name, _ in turn.calls
                    ],
                )
            )
            turn = gemini_call(mode, gc, alias, contents, tools, think)
            check_after_tool(turn, gt.FinishReason.STOP)
        else:
            ctx.check_text(alias, turn)
            check(turn.stop == gt.FinishReason.STOP, f"finish_reason {turn.stop!r}, expected STOP")
        check(turn.usage is not None, "no usage_metadata")
        ctx.check_cache(alias, turn.usage.cached_content_token_count)

    return run


def run_gemini_count(ctx, alias, scenario):
    r = ctx.genai.models.count_tokens(model=alias, contents="How many tokens is this?")
    check(isinstance(r.total_tokens, int) and r.total_tokens > 0, f"total_tokens {r.total_tokens!r}")


# --- Shared checks ---------------------------------------------------------------------------


def check_tool_turn(turn, stop):
    check(turn.calls, f"no tool call (text {turn.text!r}, stop {turn.stop!r})")
    names = [name for _, name, _ in turn.calls]
    check(names == [TOOL], f"tool names {names!r}, expected [{TOOL!r}] byte-exact")
    for call_id, _, args in turn.calls:
        check(isinstance(args, dict), f"arguments {args!r}")
    check(turn.stop == stop, f"stop {turn.stop!r}, expected {stop!r} after a tool call")


def check_after_tool(turn, stop):
    check(
        AFTER_TOOL in turn.text and TOOL_OUTPUT in turn.text,
        f"final text {turn.text!r} lacks {AFTER_TOOL!r} and the tool output {TOOL_OUTPUT!r}",
    )
    check(turn.stop == stop, f"stop {turn.stop!r}, expected {stop!r}")


class Context:
    def __init__(self, base_url, key, expect):
        self.requests = Requests()
        self.expect = expect
        self.openai = openai.OpenAI(
            api_key=key, base_url=f"{base_url}/v1", max_retries=0, http_client=self.requests.client()
        )
        self.anthropic = anthropic.Anthropic(
            api_key=key, base_url=base_url, max_retries=0, http_client=self.requests.client()
        )
        # Kept on self: a collected genai client closes its transport.
        self.genai = genai.Client(
            api_key=key,
            http_options=gt.HttpOptions(
                base_url=base_url,
                api_version="v1beta",
                retry_options=gt.HttpRetryOptions(attempts=1),
                httpx_client=self.requests.client(),
            ),
        )
        self.notes = {}

    def check_cache(self, alias, read, write=NO_FIELD):
        """Checks the prompt-cache counts a client read from its own usage field against
        what the provider reported (``--expect``'s ``cache``); ``write`` is Anthropic's
        ``cache_creation_input_tokens``, which only that format has a place for."""
        cache = self.expect.get(alias, {}).get("cache")
        if cache is None:
            return
        if cache == "none":
            # No cache notion upstream: nothing may claim a cache hit.
            check(not read, f"cached tokens {read!r} from a provider with no prompt cache")
            if write is not NO_FIELD:
                check(not write, f"cache writes {write!r} from a provider with no prompt cache")
            self.notes["cache"] = "none"
            return
        check(read == cache["read"], f"cached tokens {read!r}, expected {cache['read']}")
        if write is not NO_FIELD:
            want = cache.get("write", 0)
            check((write or 0) == want, f"cache writes {write!r}, expected {want}")
        self.notes["cached_tokens"] = read

    def check_text(self, alias, turn):
        wanted = self.expect.get(alias, {}).get("text")
        if wanted:
            check(turn.text in wanted, f"text {turn.text!r}, expected one of {wanted!r}")
        else:
            check(turn.text, "no text")


CLIENTS = [
    ("openai.chat.completions.create", run_chat("create")),
    ("openai.chat.completions.create(stream)", run_chat("stream")),
    ("openai.chat.completions.stream", run_chat("helper")),
    ("openai.responses.create", run_responses("create")),
    ("openai.responses.create(stream)", run_responses("stream")),
    ("openai.responses.stream", run_responses("helper")),
    ("anthropic.messages.create", run_anthropic("create")),
    ("anthropic.messages.create(stream)", run_anthropic("stream")),
    ("anthropic.messages.stream", run_anthropic("helper")),
    ("genai.models.generate_content", run_gemini("create")),
    ("genai.models.generate_content_stream", run_gemini("stream")),
]
COUNTERS = [
    ("anthropic.messages.count_tokens", run_anthropic_count),
    ("genai.models.count_tokens", run_gemini_count),
]
SCENARIOS = ["text", "tool", "think", "think_tool"]


def describe(e):
    if isinstance(e, CheckFailed):
        return str(e)
    status = getattr(e, "status_code", None) or getattr(e, "code", None)
    body = getattr(e, "body", None) or getattr(e, "details", None) or getattr(e, "response", None)
    text = f"{type(e).__module__}.{type(e).__name__}: {e}"
    if status and str(status) not in text:
        text = f"{text} (status {status})"
    if body is not None and str(body) not in text:
        text = f"{text} body: {body}"
    frames = traceback.extract_tb(e.__traceback__)
    if frames:
        last = frames[-1]
        text += f" [at {last.name}:{last.lineno}]"
    return text[:3000]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url")
    ap.add_argument("key")
    ap.add_argument("aliases", nargs="+")
    ap.add_argument("--expect", default="{}")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    ctx = Context(args.base_url.rstrip("/"), args.key, json.loads(args.expect))

    plan = []
    for alias in args.aliases:
        for name, run in CLIENTS:
            for scenario in SCENARIOS:
                plan.append((name, alias, scenario, run))
        for name, run in COUNTERS:
            plan.append((name, alias, "count", run))

    cases = []
    for name, alias, scenario, run in plan:
        case_name = f"{name} {alias} {scenario}"
        if args.only and args.only not in case_name:
            continue
        ctx.notes = {}
        before = ctx.requests.count
        try:
            run(ctx, alias, scenario)
            ok, error = True, None
        except Exception as e:  # every failure is a result, not a crash
            ok, error = False, describe(e)
        case = {
            "case": case_name,
            "client": name,
            "provider": alias,
            "scenario": scenario,
            "ok": ok,
            "requests": ctx.requests.count - before,
            "error": error,
        }
        if ctx.notes:
            case["notes"] = dict(ctx.notes)
        cases.append(case)

    failed = sum(not c["ok"] for c in cases)
    report = {
        "passed": len(cases) - failed,
        "failed": failed,
        "requests": ctx.requests.count,
        "cases": cases,
    }
    print(json.dumps(report, indent=1))
    sys.exit(1 if failed or not cases else 0)


if __name__ == "__main__":
    main()
