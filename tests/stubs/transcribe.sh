#!/usr/bin/env bash
# A stub transcriber for the tests: prints "heard: <the audio file's bytes as text>", fails when
# the audio says "fail", and prints nothing when it says "silence".
set -eu
audio=$(cat "$1")
if [ "$audio" = "fail" ]; then
  printf 'cannot decode the audio\n' >&2
  exit 2
fi
if [ "$audio" = "silence" ]; then exit 0; fi
printf 'heard: %s\n' "$audio"
