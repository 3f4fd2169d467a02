#!/usr/bin/env bash
# Speaks the voicemail prompts (src/services/voicemail/prompts/<lang>/prompts.txt) into
# WAV files the pbx plays as they are: 8 kHz, 16-bit, mono. The files are committed, so a
# fresh install speaks without this script; run it after changing a text.
# Needs Debian's espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")/.."
lang="${1:-en}"
dir="src/services/voicemail/prompts/$lang"
voice="${VOICE:-en-us}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
n=0
while IFS='|' read -r name text; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$text"
  # Telephone band, trimmed of the silence espeak leaves around speech, peak at -3 dBFS.
  sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$dir/$name.wav" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3
  n=$((n + 1))
done < "$dir/prompts.txt"
echo "$n prompts written to $dir"
