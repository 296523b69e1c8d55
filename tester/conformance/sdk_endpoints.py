#!/usr/bin/env python3
"""Drives the official SDKs (openai, google-genai) through Switchyard's endpoints beside chat.

Each case runs one SDK call against one model alias:

* embeddings   openai ``embeddings.create`` (the SDK's default base64, decoded by the SDK;
               ``encoding_format="float"``; explicit ``"base64"`` decoded here) and
               google-genai ``models.embed_content`` (a batch of two with
               ``output_dimensionality``). The fakes' first value of a vector is the text's
               length, so order and content are checked, not only shapes.
* completions  openai ``completions.create``, whole and streamed (with usage).
* images       openai ``images.generate`` (``b64_json``) and google-genai
               ``models.generate_images`` (which speaks only Vertex AI: express mode, an API
               key and the proxy as base URL), each image checked to decode as PNG.
* speech       openai ``audio.speech.with_streaming_response.create(...).stream_to_file``:
               the file must hold exactly the audio the fake spoke for the input.
* transcriptions, translations
               openai ``audio.transcriptions.create`` (json, verbose_json with its duration,
               text) and ``audio.translations.create`` on a real WAV written here with the
               ``wave`` module; the fake says how many bytes of which file it heard.
* image_edits  openai ``images.edit`` with a PNG upload, two images back.

Usage:
    sdk_endpoints.py BASE_URL CLIENT_KEY --spec JSON

``--spec`` maps each kind to its aliases and, for completions, the texts a fake may say:
``{"embeddings": ["e_openai"], "completions": {"m_openai": ["Hello", "tok0 tok1 tok2 "]},
"images": ["i_openai"], "speech": ["s_openai"], "speech_repeat": 2048,
"transcriptions": ["t_openai"], "image_edits": ["i_openai"]}``.

Prints ``{"passed", "failed", "requests", "cases": [...]}`` as JSON and exits 1 if any case
failed. The clients are strict: no retries.
"""

import argparse
import base64
import io
import json
import struct
import sys
import tempfile
import traceback
import wave
from pathlib import Path

import httpx2
import openai
from google import genai
from google.genai import types as gt

TIMEOUT = 60.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A 1x1 PNG to edit.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
SPEECH_INPUT = "hello there, switchyard"
WAV_SECONDS = 1.5


def make_wav(seconds=WAV_SECONDS, rate=16000):
    """A mono 16-bit PCM WAV of a rising tone, as a recorder would write it."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(rate * seconds)
        w.writeframes(b"".join(struct.pack("<h", (i * 37) % 32768 - 16384) for i in range(frames)))
    return buf.getvalue()


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


def check_vectors(vectors, dims):
    check(len(vectors) == 2, f"two embeddings expected, got {len(vectors)}")
    check(all(len(v) == dims for v in vectors), f"{dims} dimensions expected: {vectors}")
    # "hello" then "hi": the fakes put the text's length first.
    check([v[0] for v in vectors] == [5.0, 2.0], f"order or content lost: {vectors}")


class Runner:
    def __init__(self, base_url, key):
        self.requests = Requests()
        self.openai = openai.OpenAI(
            api_key=key, base_url=f"{base_url}/v1", max_retries=0, http_client=self.requests.client()
        )
        self.genai = genai.Client(
            api_key=key,
            http_options=gt.HttpOptions(
                base_url=base_url,
                api_version="v1beta",
                retry_options=gt.HttpRetryOptions(attempts=1),
                httpx_client=self.requests.client(),
            ),
        )
        self.vertex = genai.Client(
            vertexai=True,
            api_key=key,
            http_options=gt.HttpOptions(
                base_url=base_url,
                retry_options=gt.HttpRetryOptions(attempts=1),
                httpx_client=self.requests.client(),
            ),
        )

    def embeddings_default(self, alias):
        r = self.openai.embeddings.create(model=alias, input=["hello", "hi"], dimensions=4)
        check_vectors([d.embedding for d in r.data], 4)
        check(r.usage.prompt_tokens > 0, f"no prompt tokens: {r.usage}")

    def embeddings_float(self, alias):
        r = self.openai.embeddings.create(
            model=alias, input=["hello", "hi"], encoding_format="float", dimensions=4
        )
        check_vectors([d.embedding for d in r.data], 4)

    def embeddings_base64(self, alias):
        r = self.openai.embeddings.create(
            model=alias, input=["hello", "hi"], encoding_format="base64", dimensions=4
        )
        vectors = []
        for d in r.data:
            check(isinstance(d.embedding, str), f"base64 expected: {d.embedding!r}")
            raw = base64.b64decode(d.embedding)
            vectors.append(list(struct.unpack(f"<{len(raw) // 4}f", raw)))
        check_vectors(vectors, 4)

    def embed_content(self, alias):
        r = self.genai.models.embed_content(
            model=alias,
            contents=["hello", "hi"],
            config=gt.EmbedContentConfig(output_dimensionality=3),
        )
        check_vectors([e.values for e in r.embeddings], 3)

    def completion(self, alias, texts):
        r = self.openai.completions.create(model=alias, prompt="say hi", max_tokens=64)
        check(r.object == "text_completion", f"object is {r.object}")
        check(r.choices[0].text in texts, f"text {r.choices[0].text!r} not in {texts}")
        check(r.usage is not None and r.usage.total_tokens > 0, f"no usage: {r.usage}")

    def completion_stream(self, alias, texts):
        text, usage = "", None
        stream = self.openai.completions.create(
            model=alias, prompt="say hi", max_tokens=64, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            check(chunk.object == "text_completion", f"chunk object is {chunk.object}")
            if chunk.choices:
                text += chunk.choices[0].text
            if chunk.usage is not None:
                usage = chunk.usage
        check(text in texts, f"streamed text {text!r} not in {texts}")
        check(usage is not None and usage.completion_tokens > 0, f"no usage chunk: {usage}")

    def images_generate(self, alias):
        r = self.openai.images.generate(model=alias, prompt="a red square", n=2)
        check(len(r.data) == 2, f"two images expected, got {len(r.data)}")
        for d in r.data:
            check(d.b64_json is not None, f"no b64_json: {d}")
            check(base64.b64decode(d.b64_json).startswith(PNG_MAGIC), "not a PNG")


    def generate_images(self, alias):
        r = self.vertex.models.generate_images(
            model=alias, prompt="a red square", config=gt.GenerateImagesConfig(number_of_images=2)
        )
        check(len(r.generated_images) == 2, f"two images expected, got {len(r.generated_images)}")
        for g in r.generated_images:
            check(g.image.image_bytes.startswith(PNG_MAGIC), "not a PNG")


    def speech(self, alias, repeat):
        out = Path(tempfile.mkdtemp()) / "speech.wav"
        with self.openai.audio.speech.with_streaming_response.create(
            model=alias, voice="alloy", input=SPEECH_INPUT, response_format="wav"
        ) as r:
            check(r.headers.get("content-type") == "audio/wav", f"content type {r.headers.get('content-type')}")
            r.stream_to_file(out)
        data = out.read_bytes()
        want = f"FAKEAUDIO:wav:{SPEECH_INPUT}\n".encode() * repeat
        check(data == want, f"audio differs: {len(data)} bytes, {data[:60]!r}")

    def transcription(self, alias):
        wav = make_wav()
        r = self.openai.audio.transcriptions.create(model=alias, file=("speech.wav", wav, "audio/wav"))
        check(r.text == f"heard {len(wav)} bytes of speech.wav", f"text {r.text!r}")

    def transcription_verbose(self, alias):
        wav = make_wav()
        r = self.openai.audio.transcriptions.create(
            model=alias, file=("speech.wav", wav, "audio/wav"), response_format="verbose_json"
        )
        check(abs(r.duration - WAV_SECONDS) < 1e-6, f"duration {r.duration}")
        check(r.text == f"heard {len(wav)} bytes of speech.wav", f"text {r.text!r}")

    def transcription_text(self, alias):
        wav = make_wav()
        r = self.openai.audio.transcriptions.create(
            model=alias, file=("speech.wav", wav, "audio/wav"), response_format="text"
        )
        check(r.strip() == f"heard {len(wav)} bytes of speech.wav", f"text {r!r}")

    def translation(self, alias):
        wav = make_wav()
        r = self.openai.audio.translations.create(model=alias, file=("speech.wav", wav, "audio/wav"))
        check(r.text == f"heard {len(wav)} bytes of speech.wav", f"text {r.text!r}")

    def image_edit(self, alias):
        r = self.openai.images.edit(
            model=alias, image=("in.png", PNG_1X1, "image/png"), prompt="make it blue", n=2
        )
        check(len(r.data) == 2, f"two images expected, got {len(r.data)}")
        for d in r.data:
            check(base64.b64decode(d.b64_json).startswith(PNG_MAGIC), "not a PNG")


def cases(spec):
    for alias in spec.get("embeddings", []):
        for name in ["embeddings_default", "embeddings_float", "embeddings_base64", "embed_content"]:
            yield f"{name}/{alias}", name, (alias,)
    for alias, texts in spec.get("completions", {}).items():
        for name in ["completion", "completion_stream"]:
            yield f"{name}/{alias}", name, (alias, texts)
    for alias in spec.get("images", []):
        yield f"images_generate/{alias}", "images_generate", (alias,)
        yield f"generate_images/{alias}", "generate_images", (alias,)
    for alias in spec.get("speech", []):
        yield f"speech/{alias}", "speech", (alias, spec["speech_repeat"])
    for alias in spec.get("transcriptions", []):
        for name in ["transcription", "transcription_verbose", "transcription_text", "translation"]:
            yield f"{name}/{alias}", name, (alias,)
    for alias in spec.get("image_edits", []):
        yield f"image_edit/{alias}", "image_edit", (alias,)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url")
    ap.add_argument("key")
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    runner = Runner(args.base_url, args.key)
    report = {"passed": 0, "failed": 0, "cases": []}
    for case, name, params in cases(json.loads(args.spec)):
        before = runner.requests.count
        entry = {"case": case}
        try:
            getattr(runner, name)(*params)
            entry["ok"] = True
            report["passed"] += 1
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            entry["ok"] = False
            entry["error"] = f"{type(e).__name__}: {e}"
            entry["trace"] = traceback.format_exc(limit=4)
            report["failed"] += 1
        entry["requests"] = runner.requests.count - before
        report["cases"].append(entry)
    report["requests"] = runner.requests.count
    print(json.dumps(report))
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
