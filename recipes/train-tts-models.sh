#!/usr/bin/env bash
# The exact commands that made the TTS corpora and trained the TTS models (issue 12), as run on the 2-core
# CPU, every run at one thread beside other work:  recipes/train-tts-models.sh STAGE  (no STAGE: the list).
# Corpora and runs live outside the git tree ($TTS_DATA, $TTS_RUNS). Time budgets (not epochs) bound the
# runs, so a busier machine makes fewer steps and different weights; the corpora are bit-exact (checked: a
# second run of the train and eval corpora in a fresh process gave the same sha256 for all 4,201 files).
# Long stages start in the background, detached with setsid (a plain nohup run died with the shell that
# started it); two at once take both cores, so the others wait (see each stage's "as run").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SO="$PY -m speechopt.cli"
DATA=${TTS_DATA:-/work/tts-data}
RUNS=${TTS_RUNS:-/work/tts-runs}
mkdir -p "$RUNS"

background() {  # background LOG COMMAND...: detached, one thread
  local log=$1; shift
  setsid nohup env OMP_NUM_THREADS=1 "$@" > "$log" 2>&1 < /dev/null &
  echo "started in the background (pid $!); log: $log"
}

case "${1:-}" in
corpora)
  # 54 s for all three, one thread. One voice, espeak-ng en-us at 175 wpm, pitch 50, range 50; 16 kHz mono
  # 16-bit WAV; manifest.jsonl with text, phonemes, phoneme_ms (milliseconds) and espeak word timings.
  # Training: 4,000 distinct sentences (147 min of audio, 0.5-6.1 s, median 1.9 s); validation (picks
  # checkpoints): 100, own seed, training sentences excluded; evaluation (bundled as zoo:tts-eval, its first
  # 120): 200, own seed, training and validation sentences excluded.
  [ -f "$DATA/train/manifest.jsonl" ] || \
    OMP_NUM_THREADS=1 $PY -m speechopt.data.tts_corpus --num 4000 --seed 0 --split train --out "$DATA/train"
  [ -f "$DATA/val/manifest.jsonl" ] || \
    OMP_NUM_THREADS=1 $PY -m speechopt.data.tts_corpus --num 100 --seed 2 --split val --exclude 0:4000 --out "$DATA/val"
  [ -f "$DATA/eval/manifest.jsonl" ] || \
    OMP_NUM_THREADS=1 $PY -m speechopt.data.tts_corpus --num 200 --seed 1 --split eval --exclude 0:4000 \
      --exclude 2:100 --out "$DATA/eval"
  ;;
smoke)
  # 2 min wall (71 steps in 1.5 min of training): the loop, validation, checkpointing and the model files
  # work on the real corpus.
  rm -rf /tmp/tts-smoke2
  OMP_NUM_THREADS=1 $PY -m speechopt.train_tts --data "$DATA/train" --val-data "$DATA/val" --out /tmp/tts-smoke2 \
    --time-budget 1.5 --config '{"reduction": 3}' --val-every-min 0.7
  ;;
tacotron2)
  # zoo:tacotron2. r = 3, 2,030,594 parameters (speechopt/models/tts/tacotron2.py defaults), characters,
  # batch 32, Adam 1e-3 warm-up + cosine over 105 minutes of training steps, guided attention from espeak
  # word timings (sigma 0.15, weight 1); ~0.8 steps a second. As run (session 4): started 00:36 UTC; the
  # process died at step 2900 with the helper shell that started it and was resumed (stage
  # tacotron2-resume) from step 2875 for the rest of the same schedule; ended at step 5470.
  mkdir -p "$RUNS/tacotron2"
  background "$RUNS/tacotron2/train.log" $PY -m speechopt.train_tts --arch tacotron2 --data "$DATA/train" \
    --val-data "$DATA/val" --out "$RUNS/tacotron2" --time-budget 105 --config '{"reduction": 3}' --val-every-min 10
  ;;
tacotron2-resume)
  background "$RUNS/tacotron2/train-part2.log" $PY -m speechopt.train_tts --arch tacotron2 --data "$DATA/train" \
    --val-data "$DATA/val" --out "$RUNS/tacotron2" --time-budget 105 --config '{"reduction": 3}' \
    --val-every-min 10 --resume
  ;;
fastspeech)
  # FastSpeech, 1,168,593 parameters (speechopt/models/tts/fastspeech.py defaults), characters, durations
  # from espeak's word timings (speechopt/models/tts/durations.py), batch 32, Adam 1e-3 warm-up + cosine
  # over 75 minutes of training steps; ~1.2 steps a second beside two other runs. As run (session 5):
  # 03:13-04:35 UTC. Writes the artifact $RUNS/fastspeech (run folder $RUNS/fastspeech.train-run).
  background "$RUNS/fastspeech.log" $SO train tts --arch fastspeech --data "$DATA/train" --val-data "$DATA/val" \
    -o "$RUNS/fastspeech" --time-budget 75 --val-every 8 --threads 1
  ;;
fastspeech-phonemes)
  # The same FastSpeech on espeak phonemes (speechopt/tts_phonemes.py): exact phoneme durations. As run
  # (session 5): 04:31-05:28 UTC, beside tacotron2-ss; 12.26% round-trip WER (zoo:fastspeech).
  background "$RUNS/fastspeech-ph.log" $SO train tts --arch fastspeech --frontend phonemes --data "$DATA/train" \
    --val-data "$DATA/val" -o "$RUNS/fastspeech-ph" --time-budget 55 --val-every 8 --threads 1
  ;;
wavenet)
  # WaveNet vocoder, 187,785 parameters (speechopt/models/tts/wavenet.py defaults: 16 layers, dilations
  # 1..128 twice, receptive field 511 samples, residual 32, gate 64, skip 64, mu-law 256), teacher forced on
  # random crops of 16 frames (3,200 samples) of the training audio, batch 8, Adam 1e-3, warm-up + cosine
  # over the time budget; ~0.8 s a step. As run (session 5): started 03:20 UTC, stopped (killed) at 03:30
  # after its first validation (step 500) to give its core to Tacotron; resume with stage wavenet-resume.
  # As run (session 6, a new machine, from scratch): WAVENET_MINUTES=90, started 07:55 UTC when
  # fastspeech-more ended; paused like tacotron2-more for the quiet studies (about 16 minutes counted).
  mkdir -p "$RUNS/wavenet"
  background "$RUNS/wavenet/train.log" $PY -m speechopt.train_wavenet --data "$DATA/train" --val-data "$DATA/val" \
    --out "$RUNS/wavenet" --time-budget "${WAVENET_MINUTES:-100}"
  ;;
wavenet-resume)
  background "$RUNS/wavenet/train-part2.log" $PY -m speechopt.train_wavenet --data "$DATA/train" \
    --val-data "$DATA/val" --out "$RUNS/wavenet" --time-budget 100 --resume
  ;;
tacotron)
  # Tacotron (the original), 1,254,163 parameters (speechopt/models/tts/tacotron.py defaults; r = 3),
  # characters, the same guided attention as Tacotron 2, L1 on the decoder mel and on the post-CBHG's log
  # linear magnitude, batch 32, Adam 1e-3 warm-up + cosine over 70 minutes; ~0.6 steps a second beside two
  # other runs. As run (session 5): started 03:33 UTC. Writes $RUNS/tacotron (run folder
  # $RUNS/tacotron.train-run).
  background "$RUNS/tacotron.log" $SO train tts --arch tacotron --data "$DATA/train" --val-data "$DATA/val" \
    -o "$RUNS/tacotron" --time-budget 70 --val-every 10 --config reduction=3 --threads 1
  ;;
tacotron2-ss)
  # zoo:tacotron2 trained on with scheduled sampling: a copy of its run folder resumed (its optimizer state
  # and the remaining cosine schedule over a longer budget), half the decoder steps fed the model's own
  # previous frame, the checkpoint kept by the round-trip CER of 32 free-running validation sentences.
  # As run (session 5): 04:43-05:30 UTC; 83.86% round-trip WER (was 95.27%): zoo:tacotron2 since.
  mkdir -p "$RUNS/tacotron2-ss"
  [ -f "$RUNS/tacotron2-ss/train-state/state.pt" ] || \
    cp -r "$RUNS/tacotron2/train-state" "$RUNS/tacotron2/model.safetensors" "$RUNS/tacotron2/config.json" \
      "$RUNS/tacotron2-ss/"
  background "$RUNS/tacotron2-ss/train.log" $PY -m speechopt.train_tts --arch tacotron2 --data "$DATA/train" \
    --val-data "$DATA/val" --out "$RUNS/tacotron2-ss" --time-budget 150 --config '{"reduction": 3}' \
    --val-every-min 8 --resume --feedback 0.5 --select-on roundtrip
  ;;
tacotron2-more)
  # Session 6 (a new machine: the run folders above were gone): zoo:tacotron2's weights trained on with a fresh
  # Adam and cosine schedule (peak 5e-4) for 135 minutes, scheduled sampling 0.5, the checkpoint kept by
  # free-running round-trip CER. Writes the artifact $RUNS/tacotron2-more. As run: 07:07 UTC beside
  # fastspeech-more, then wavenet; paused (SIGSTOP) for about 17 minutes in all for the quiet-machine
  # studies, which the budget counted as training time (a pause inside a step adds to that step's time).
  background "$RUNS/tacotron2-more.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-more" --time-budget 135 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --threads 1
  ;;
tacotron2-more-resume)
  # As run: tacotron2-more was stopped at 07:12 UTC (step ~150) to stop validating at every 1.7-minute epoch,
  # and resumed from its step-125 state with this stage.
  background "$RUNS/tacotron2-more-part2.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-more" --time-budget 135 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --threads 1 --resume
  ;;
fastspeech-more)
  # Session 6: zoo:fastspeech (phonemes) trained on from its weights, fresh Adam and cosine (peak 5e-4), 45 min.
  # As run: 07:08-07:54 UTC beside tacotron2-more; validation L1 0.334 -> 0.305, but the round trip did not
  # move: 13.23% WER against the bundled model's 12.99% on the same machine (not bundled).
  # benchmarks/fastspeech_limits.py says why: the mels, not the durations, limit it.
  background "$RUNS/fastspeech-more.log" $SO train tts --arch fastspeech --frontend phonemes \
    --init-from zoo:fastspeech --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/fastspeech-more" \
    --time-budget 45 --lr 5e-4 --val-every 8 --threads 1
  ;;
tacotron2-cycle2)
  # Session 7 (the session-6 machine again): zoo:tacotron2 (tacotron2-more's weights, 38.71%) trained on for
  # a second cycle, since its validation round trip was still falling when the learning rate decayed: a fresh
  # Adam and cosine (peak 5e-4) over 130 minutes, scheduled sampling 0.5, checkpoint by round-trip CER.
  # Writes the artifact $RUNS/tacotron2-cycle2. As run: 10:13-12:24 UTC, beside fastspeech-postnet from 11:35;
  # 20.87% round-trip WER (zoo:tacotron2 since).
  background "$RUNS/tacotron2-cycle2.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle2" --time-budget 130 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --threads 1
  ;;
fastspeech-postnet)
  # Session 7: a larger FastSpeech from scratch, since benchmarks/fastspeech_limits.py showed the mels (not
  # the durations) limit zoo:fastspeech and its training L1 was barely under validation's (underfit): a
  # post-net (5 convs, 256 channels, kernel 5, L1 on both mels), 3 encoder and 4 decoder FFT blocks, FFN 512
  # wide with kernel 5; 4,535,201 parameters (timed at 0.83 s a step against 0.30 s for zoo:fastspeech's
  # size at one thread on batch 32). Phonemes, Adam 1e-3 warm-up + cosine over 120 minutes.
  # As run: started 11:35 UTC beside tacotron2-cycle2; still running when session 7 ended (resumable: add
  # --resume). Writes $RUNS/fastspeech-postnet. Its best checkpoint at 65 budget minutes (step 2611) gave 12.50%
  # round-trip WER, MCD 0.97 dB (zoo:fastspeech: 12.99%, 1.06 dB on the same CPU).
  background "$RUNS/fastspeech-postnet.log" $SO train tts --arch fastspeech --frontend phonemes \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/fastspeech-postnet" --time-budget 120 --val-every 10 \
    --threads 1 --config postnet_layers=5 --config encoder_layers=3 --config decoder_layers=4 \
    --config ffn_dim=512 --config ffn_kernel=5
  ;;
tacotron2-cycle3)
  # Session 8 (an AMD EPYC with AVX-512 VNNI; the session-7 run folders were gone): a third warm restart from
  # zoo:tacotron2 (cycle 2's 20.87%), the same recipe as cycle 2 over 120 minutes, since each restart so far
  # has roughly halved the round-trip WER. Writes $RUNS/tacotron2-cycle3. As run: 14:54-16:56 UTC beside the
  # separable-ctc student (recipes/train-reference-models.sh stage 5); 18.45% round-trip WER, where the
  # cycle-2 weights give 21.24% on this CPU (zoo:tacotron2 since).
  background "$RUNS/tacotron2-cycle3.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle3" --time-budget 120 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --threads 1
  ;;
tacotron-ss)
  # Session 11 (an AMD EPYC Zen 5 with AVX-512 VNNI; the earlier run folders were gone): zoo:tacotron
  # (108.37% round trip) fails in free running as Tacotron 2 did before its scheduled-sampling cycles, so the
  # same cure: from its weights, --feedback 0.5, checkpoints kept by free-running round-trip CER, 100 minutes.
  # Writes $RUNS/tacotron-ss. As run: started 07:36 UTC beside the lstm-ctc distillation
  # (recipes/train-reference-models.sh stage 7); 1.1 steps a second. Stopped after its 30-minute validation
  # (round-trip CER 59% -> 48% -> 36%, only the first kept: the selection then ranked alignment health
  # first) and resumed at 08:07 with the same command plus --resume under the fixed selection (CER alone).
  # Ended 09:32: 6,935 steps, best validation round trip 43.3% WER / 13.2% CER (90 min); on zoo:tts-eval
  # 47.94% / 15.14% (was 108.37%). Bundled: speechopt zoo add $RUNS/tacotron-ss --name tacotron --overwrite
  background "$RUNS/tacotron-ss.log" $SO train tts --arch tacotron --init-from zoo:tacotron \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron-ss" --time-budget 100 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --config reduction=3 --threads 1
  ;;
tacotron-ss2)
  # Session 12 (an Intel Xeon with AVX-512 VNNI and AMX; the earlier run folders were gone): a second cycle of
  # tacotron-ss from zoo:tacotron (47.94%), since its validation CER was still falling when the learning rate
  # decayed: a fresh Adam and cosine (peak 5e-4) over 90 minutes, the same sampling and selection.
  # Writes $RUNS/tacotron-ss2. As run: 10:55-12:29 UTC beside the stage-8 conv student
  # (recipes/train-reference-models.sh), one thread each; 4,847 steps. Validation round trip (32 sentences)
  # 42.9% at 10 minutes, 23.5% at 40, best 23.0% at 80 (CER 5.8%). On zoo:tts-eval 26.09% / 7.20% (zoo:tacotron
  # gives 47.94% on this CPU too), monotonic 95%, MCD 1.89 dB. Bundled:
  #   speechopt zoo add $RUNS/tacotron-ss2 --name tacotron --overwrite
  background "$RUNS/tacotron-ss2.log" $SO train tts --arch tacotron --init-from zoo:tacotron \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron-ss2" --time-budget 90 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --config reduction=3 --threads 1
  ;;
tacotron-ss3)
  # Session 13 (the session-12 Xeon again, its run folders kept): a third cycle from zoo:tacotron (tacotron-ss2's
  # 26.09%), since its validation round trip swung between 23% and 31% in the last half of the schedule: a fresh
  # Adam and cosine (peak 5e-4) over 95 minutes, the same sampling and selection. Writes $RUNS/tacotron-ss3.
  # As run: started 13:59 UTC beside the stage-10 conv student (recipes/train-reference-models.sh), one thread
  # each; 4,232 steps (0.6-1.0 a second: the host was slower than in session 12). Validation round trip (32
  # sentences) 26.3% at 10 minutes, 22.1% at 40, 33.6% at 50, then 20.3% -> 16.6% (CER 4.2%) at 95. On
  # zoo:tts-eval 17.96% / 4.47% (was 26.09%), gate 100%, monotonic 98%, MCD 1.70 dB. Not bundled: stage
  # tacotron-ss4 trained on from it.
  background "$RUNS/tacotron-ss3.log" $SO train tts --arch tacotron --init-from zoo:tacotron \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron-ss3" --time-budget 95 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --config reduction=3 --threads 1
  ;;
tacotron-ss4)
  # Session 13: a short fourth cycle from tacotron-ss3's weights, since its validation round trip was still
  # falling at the end (20.3% -> 19.4% -> 18.0% -> 16.6% over the last 30 minutes) and zoo:tts-eval put it
  # within a point of its bar: half the peak rate (2.5e-4), 40 minutes, validations every 8. Writes
  # $RUNS/tacotron-ss4. As run: started 15:40 UTC, one thread, beside the stage-11 conv student
  # (recipes/train-reference-models.sh) from 15:52; 2,062 steps. Validation round trip (32 sentences) 15.2% /
  # CER 3.8% at 8 minutes, 22.1% at 16, 17.1% / 3.7% at 24, 17.5% at 32, 16.1% / 3.6% at 40 (kept; tacotron-ss3
  # ended at 16.6% / 4.2%). On zoo:tts-eval 16.63% / 4.17%, gate 100%, monotonic 98%, MCD 1.65 dB: the bar
  # (floor + 12 = 16.98%) met by 0.35 points. Bundled:
  #   speechopt zoo add $RUNS/tacotron-ss4 --name tacotron --overwrite
  background "$RUNS/tacotron-ss4.log" $SO train tts --arch tacotron --init-from "$RUNS/tacotron-ss3" \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron-ss4" --time-budget 40 --lr 2.5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 8 --config reduction=3 --threads 1
  ;;
tacotron2-cycle4)
  # A fourth warm restart from zoo:tacotron2 (cycle 3's 18.45%), the recipe of cycle 3, but choosing the
  # checkpoint on all 100 validation sentences (--val-sentences 100) instead of 32, whose figure swung
  # 9.7-17.1% in cycle 3. Beside stage 12 of recipes/train-reference-models.sh, one thread each. Started at
  # the end of session 13 (16:38 UTC); that machine was gone before its outcome was read. As run (session 14,
  # a new machine of the same kind): the corpora made again (22 s), started 01:29 UTC; ended 03:37 (8,590
  # steps; 12 validations of 3.6 min each, round trip 13.1-15.1% WER on the 100 sentences, the last one kept).
  # On zoo:tts-eval 15.29% / 3.76% (the cycle-3 weights: 18.33% on the same CPU), gate fired 100%, monotonic
  # 99%, MCD 1.23 dB. Bundled:  speechopt zoo add $RUNS/tacotron2-cycle4 --name tacotron2 --overwrite
  background "$RUNS/tacotron2-cycle4.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle4" --time-budget 120 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --val-sentences 100 --threads 1
  ;;
tacotron2-cycle5)
  # A fifth warm restart, the recipe of cycle 4, from its weights (zoo:tacotron2, 15.29%). Started at the end of
  # session 14 (03:55 UTC), beside stage 14 of recipes/train-reference-models.sh; its outcome not yet read.
  background "$RUNS/tacotron2-cycle5.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle5" --time-budget 120 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --val-sentences 100 --threads 1
  ;;
tacotron2-cycle5-resume)
  # The session ended at 26 minutes (step 1450) and took the process with it; resumed at the start of session
  # 15 from its 20-minute state (step 1111) for the rest of the same schedule.
  background "$RUNS/tacotron2-cycle5-part2.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle5" --time-budget 120 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 10 --val-sentences 100 --threads 1 --resume
  ;;
val2)
  # 300 more validation sentences (own seed; training, validation and evaluation sentences excluded), made in
  # session 16 to choose between two Tacotron 2 checkpoints that 100 sentences could not separate.
  [ -f "$DATA/val2/manifest.jsonl" ] || OMP_NUM_THREADS=1 $PY -m speechopt.data.tts_corpus --num 300 --seed 3 \
    --split val --exclude 0:4000 --exclude 2:100 --exclude 1:200 --out "$DATA/val2"
  for m in "$RUNS/tacotron2-cycle5b" zoo:tacotron2; do
    $SO eval "$m" --data "$DATA/val/manifest.jsonl" --threads 1
    $SO eval "$m" --data "$DATA/val2/manifest.jsonl" --threads 1
  done
  ;;
tacotron2-cycle5b)
  # Session 16 (an AMD EPYC Zen 3, AVX2 only; the machine of session 15 was gone with cycle 5's run folder, its
  # last validation at 60 of 120 minutes): cycle 5 again from zoo:tacotron2 (15.29%), sized to end inside one
  # session: 95 minutes, validations every 15 on the 100 validation sentences. As run: 19:04-20:43 UTC beside
  # stage 15 of recipes/train-reference-models.sh, one thread each; 0.5-0.9 steps a second. Validation round
  # trip 14.7%, 13.1%, 13.8% (kept, by CER), 13.8%, 14.0%, 13.1% at 15-90 minutes. On zoo:tts-eval 13.71% /
  # 3.26%, gate 100%, monotonic 99%, MCD 1.22 dB, where zoo:tacotron2 gives 16.50% / 3.97% on this CPU (15.29%
  # on the Xeon that trained it). Not bundled: on the validation sentences zoo:tacotron2 is as good or better,
  # 11.83% against 13.67% on the 100 of $DATA/val and 14.52% against 14.01% on 300 more ($DATA/val2, made only
  # to weigh the two: stage val2), 13.85% against 13.93% pooled. Cycles 4 and 5 tie: Tacotron 2 has flattened
  # near 14% round trip on validation, and 120 evaluation sentences swing a figure by 2-3 points.
  background "$RUNS/tacotron2-cycle5b.log" $SO train tts --arch tacotron2 --init-from zoo:tacotron2 \
    --data "$DATA/train" --val-data "$DATA/val" -o "$RUNS/tacotron2-cycle5b" --time-budget 95 --lr 5e-4 \
    --feedback 0.5 --select-on roundtrip --val-every 15 --val-sentences 100 --threads 1
  ;;
*)
  echo "usage: $0 STAGE   (corpora, smoke, tacotron2, tacotron2-resume, fastspeech, fastspeech-phonemes,"
  echo "                   wavenet, wavenet-resume, tacotron, tacotron2-ss, tacotron2-more, tacotron2-more-resume,"
  echo "                   fastspeech-more, tacotron2-cycle2, fastspeech-postnet,"
  echo "                   tacotron2-cycle3, tacotron-ss, tacotron-ss2, tacotron-ss3,"
  echo "                   tacotron-ss4, tacotron2-cycle4, tacotron2-cycle5,"
  echo "                   tacotron2-cycle5-resume, tacotron2-cycle5b, val2)"
  exit 2
  ;;
esac
