#!/usr/bin/env python3
"""Drives the official SDKs' video generation through Switchyard, one case per SDK call
and model alias:

* openai_video   openai ``videos.create`` (which sends a multipart form), then
                 ``videos.poll`` until the job is done, then ``videos.download_content``:
                 the bytes must be the video the fake made for the upstream model and prompt.
* genai_video    google-genai ``models.generate_videos`` (Vertex AI express mode: an API
                 key and the proxy as base URL, the only mode this SDK generates videos in),
                 then ``operations.get`` until ``done``: the video's bytes come inline.

Usage:
    sdk_videos.py BASE_URL CLIENT_KEY --spec JSON

``--spec`` maps each alias to the upstream model its fake names in the video's bytes:
``{"v_openai": "sora-2", "v_veo": "veo-3.0-generate-001"}``.

Prints ``{"passed", "failed", "requests", "cases": [...]}`` as JSON and exits 1 if any case
failed. The clients are strict: no retries.
"""

import argparse
import json
import sys
import time
import traceback

import httpx2
import openai
from google import genai
from google.genai import types as gt

TIMEOUT = 60.0
# The fakes finish a job after a few polls; this bounds a broken one.
MAX_POLLS = 50
REPEAT = 4096


def video_bytes(model, prompt):
    """What the fakes generate (tester/src/fake_videos.rs)."""
    return f"FAKEVIDEO:{model}:{prompt}\n".encode() * REPEAT


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


class Runner:
    def __init__(self, base_url, key):
        self.requests = Requests()
        self.openai = openai.OpenAI(
            api_key=key, base_url=f"{base_url}/v1", max_retries=0, http_client=self.requests.client()
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

    def openai_video(self, alias, upstream):
        prompt = f"a paper boat on a pond ({alias})"
        video = self.openai.videos.create(model=alias, prompt=prompt, seconds="4", size="1280x720")
        check(video.object == "video", f"object {video.object}")
        check(video.status in ("queued", "in_progress"), f"status {video.status}")
        check(video.model == alias, f"model {video.model}")
        video = self.openai.videos.poll(video.id, poll_interval_ms=20)
        check(video.status == "completed", f"status {video.status}: {video.error}")
        check(video.progress == 100, f"progress {video.progress}")
        check(video.seconds == "4", f"seconds {video.seconds}")
        data = self.openai.videos.download_content(video.id).read()
        check(data == video_bytes(upstream, prompt), f"video differs: {len(data)} bytes, {data[:60]!r}")

    def genai_video(self, alias, upstream):
        prompt = f"a kite over the dunes ({alias})"
        op = self.vertex.models.generate_videos(
            model=alias,
            prompt=prompt,
            config=gt.GenerateVideosConfig(duration_seconds=8, aspect_ratio="16:9"),
        )
        check(not op.done, f"done at once: {op}")
        for _ in range(MAX_POLLS):
            if op.done:
                break
            time.sleep(0.02)
            op = self.vertex.operations.get(op)
        check(op.done, "never done")
        check(op.error is None, f"error {op.error}")
        videos = op.response.generated_videos
        check(len(videos) == 1, f"one video expected, got {len(videos)}")
        data = videos[0].video.video_bytes
        check(data == video_bytes(upstream, prompt), f"video differs: {len(data or b'')} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url")
    ap.add_argument("key")
    ap.add_argument("--spec", required=True)
    args = ap.parse_args()
    runner = Runner(args.base_url, args.key)
    report = {"passed": 0, "failed": 0, "cases": []}
    for alias, upstream in json.loads(args.spec).items():
        for name in ["openai_video", "genai_video"]:
            before = runner.requests.count
            entry = {"case": f"{name}/{alias}"}
            try:
                getattr(runner, name)(alias, upstream)
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
