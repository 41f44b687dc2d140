#!/usr/bin/env bash
# Regenerates every prompt WAV listed in manifest.toml with espeak-ng (Hungarian voice),
# converted by sox to 8000 Hz, mono, 16-bit signed PCM.
#
#   prompts/hu/generate.sh            # all prompts
#   prompts/hu/generate.sh welcome    # only the named ids
#
# Each file: leading and trailing silence trimmed, peak normalised to -3 dBFS (headroom for
# G.711), then silence appended: 100 ms after sentences, 30 ms after word fragments (ids
# num_, ord_, word_, day_, key_, art_) so that composed numbers such as "huszon" + "három"
# do not sound chopped. The prompt `beep` is a 1 kHz tone, `pause` half a second of silence
# and `music_on_hold` a plucked melody, not speech.
# Dithering is off (-D) so the appended silence is digital zero.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.toml"
rate_wpm="${ESPEAK_RATE:-140}"

command -v espeak-ng >/dev/null || { echo "generate.sh: espeak-ng not found" >&2; exit 1; }
command -v sox >/dev/null || { echo "generate.sh: sox not found" >&2; exit 1; }

# manifest.toml -> lines "id<TAB>file<TAB>text to speak" (tts when given, else text).
entries="$(awk '
  function flush() { if (id != "") { print id "\t" file "\t" (tts != "" ? tts : text) } id = file = text = tts = "" }
  function value(line) { sub(/^[^=]*=[ \t]*"/, "", line); sub(/"[ \t]*$/, "", line); return line }
  /^\[\[prompt\]\]/ { flush(); next }
  /^id[ \t]*=/   { id = value($0) }
  /^file[ \t]*=/ { file = value($0) }
  /^text[ \t]*=/ { text = value($0) }
  /^tts[ \t]*=/  { tts = value($0) }
  END { flush() }
' "$manifest")"

count=0
while IFS=$'\t' read -r id file say; do
  if [ "$#" -gt 0 ]; then
    wanted=0
    for w in "$@"; do [ "$w" = "$id" ] && wanted=1; done
    [ "$wanted" = 1 ] || continue
  fi
  out="$here/$file"
  case "$id" in
    num_*|ord_*|word_*|day_*|key_*|art_*) pad=0.03 ;;
    *) pad=0.1 ;;
  esac
  if [ "$id" = music_on_hold ]; then
    # A calm 16-second phrase of plucked notes (C major), looped while callers wait.
    notes="C4 E4 G4 C5 B4 G4 E4 G4 A4 F4 D4 F4 G4 E4 C4 D4 C4 E4 G4 C5 D5 B4 G4 D4 E4 C4 A3 C4 D4 B3 G3 C4"
    parts=()
    tmpdir="$(mktemp -d)"
    i=0
    for n in $notes; do
      sox -q -D -n -r 8000 -c 1 -b 16 -e signed-integer "$tmpdir/$i.wav" \
        synth 0.5 pluck "$n" fade t 0.005 0.5 0.15
      parts+=("$tmpdir/$i.wav")
      i=$((i + 1))
    done
    sox -q -D "${parts[@]}" -r 8000 -c 1 -b 16 -e signed-integer "$out" gain -n -12
    rm -rf "$tmpdir"
  elif [ "$id" = pause ]; then
    # Half a second of silence between the entries of a composed list (the form-choice
    # menu), where the fragments' own 30 ms would run them together.
    sox -q -D -n -r 8000 -c 1 -b 16 -e signed-integer "$out" trim 0 0.5
  elif [ "$id" = beep ]; then
    sox -q -D -n -r 8000 -c 1 -b 16 -e signed-integer "$out" \
      synth 0.4 sine 1000 fade t 0.01 0.4 0.01 gain -n -6 pad 0 "$pad"
  else
    espeak-ng -v hu -s "$rate_wpm" --stdout "$say" |
      sox -q -D -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$out" \
        silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse \
        gain -n -3 rate -v 8000 pad 0 "$pad"
  fi
  count=$((count + 1))
done <<< "$entries"

# What the synthesiser made, by digest: the console lists a prompt as still synthetic while
# its file has one of these digests (a studio recording copied over it has another).
list="$here/synthetic.sha256"
touch "$list"
{
  while IFS=$'\t' read -r id file say; do
    [ -f "$here/$file" ] || continue
    if [ "$#" -gt 0 ]; then
      wanted=0
      for w in "$@"; do [ "$w" = "$id" ] && wanted=1; done
      if [ "$wanted" = 0 ]; then grep -F "  $file" "$list" || true; continue; fi
    fi
    (cd "$here" && sha256sum "$file")
  done <<< "$entries"
} | sort -k2 -u > "$list.new"
mv "$list.new" "$list"

echo "generate.sh: wrote $count prompt(s) to $here"
