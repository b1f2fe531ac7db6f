#!/usr/bin/env bash
# The exact commands that made the bundled corpus and checkpoints (speechopt/zoo_data/).
# Three stages, each on a 2-core CPU with trainings side by side: stage 1 (about 110 minutes) trained the
# three models on ten voices; stage 2 (about 110 minutes) fine-tuned them on 80 voices and distilled a
# smaller student; stage 3 (about 100 minutes) fine-tuned the CRNN on fresh utterances and distilled a
# 25%-pruned model. Time budgets, not epochs, bound each run, so a busier machine makes fewer steps and
# (slightly) different weights.
set -euo pipefail
cd "$(dirname "$0")/.."
SO=${SPEECHOPT:-.venv/bin/speechopt}
mkdir -p corpus runs

# Data: 24,000 training utterances (stage 1: the ten train-narrow voice variants), 300 validation utterances and the bundled
# 320-utterance evaluation set (held-out voice variants: +m7 +m8 +f4 +f5, never seen in training).
[ -f corpus/dev/manifest.jsonl ]   || $SO data synth --out corpus/dev --num 300 --seed 7 --split test
[ -f corpus/train/manifest.jsonl ] || $SO data synth --out corpus/train --num 24000 --seed 0 --split train-narrow
[ -f speechopt/zoo_data/data/eval/manifest.jsonl ] || \
  $SO data synth --out speechopt/zoo_data/data/eval --num 320 --seed 2026 --split test --format flac
# zoo:eval-hard (session 5, 21 s): 320 utterances of the held-out voices of both synthesizers (espeak-ng
# +m7 +m8 +f4 +f5 and Festival's ked_diphone; 154 Festival), each degraded: speed 0.9/1.0/1.1, reverberation
# for 70%, noise for all (white/pink/babble, 5-30 dB SNR), telephone band for 10% (speechopt/data/augment.py).
# zoo:crnn-ctc on it: 90.93% WER (54.28% on the same utterances before degradation).
if [ ! -f speechopt/zoo_data/data/eval-hard/manifest.jsonl ]; then
  $SO data synth --out corpus/eval-hard-clean --num 320 --seed 2027 --split test --synth mix --format flac
  $SO data augment corpus/eval-hard-clean -o speechopt/zoo_data/data/eval-hard --seed 2027 --p-noise 1.0 --p-reverb 0.7
fi

common=(--data corpus/train --val-data corpus/dev --seed 0 --val-every 10 --overwrite)
# As the bundled models were actually made (a clean re-run of these lines reproduces the recipe, not the
# bit-exact weights: the time budgets count wall time of steps on a shared machine):
# - crnn-ctc: started with --threads 1 --time-budget 70; stopped at its 35-minute checkpoint, far from the
#   quality bar, and continued with `--resume --time-budget 105`; stopped again at its 45-minute
#   checkpoint when lstm-ctc had been stopped, and continued on both cores with `--threads 2 --resume
#   --time-budget 105`. The schedule is a function of elapsed step time, so the learning-rate curve is
#   that of a 105-minute run except for a jump at 35 minutes.
# - cnn-ctc: ran as below to the end of its 25-minute budget.
# - lstm-ctc: its 40-minute run was stopped after 21 minutes (two epochs) to give the CRNN both cores;
#   the bundled weights are its best checkpoint, written by recipes/finalize_from_state.py.
$SO train asr --arch crnn-ctc "${common[@]}" --threads 2 --time-budget 105 --out runs/crnn-ctc > runs/crnn-ctc.log 2>&1 &
(
  $SO train asr --arch cnn-ctc "${common[@]}" --threads 1 --time-budget 25 --config channels=192 --config blocks=5 \
    --out runs/cnn-ctc > runs/cnn-ctc.log 2>&1
  $SO train asr --arch lstm-ctc "${common[@]}" --threads 1 --time-budget 40 --config hidden=160 --config layers=2 \
    --out runs/lstm-ctc > runs/lstm-ctc.log 2>&1
) &
wait
# Bundle: copy each artifact into the zoo, recording its WER/CER on the bundled eval set (batch 1).
for m in crnn-ctc cnn-ctc lstm-ctc; do
  $SO zoo add runs/$m --name $m --overwrite
done

# ---- Stage 2: more voices (a later session). The stage-1 CRNN stalled at ~20% validation WER with a
# training loss near zero: it had learned its ten training voices. The `train` split now draws from 80
# espeak-ng variants (test voices still held out) and training warps the frequency axis (VTLP-style).
# Stage-1 models are fine-tuned on that corpus, each on one core, side by side.
[ -f corpus/train-wide/manifest.jsonl ] || $SO data synth --out corpus/train-wide --num 24000 --seed 0 --split train
wide=(--data corpus/train-wide --val-data corpus/dev --seed 0 --threads 1 --lr 1e-3 --overwrite)
# As run (one core each; the CNN first, the student when the CNN had finished, the LSTM when the CRNN had):
$SO train asr --arch crnn-ctc --init-from zoo:crnn-ctc "${wide[@]}" --val-every 10 --time-budget 85 \
  --out runs/crnn-ctc-wide > runs/crnn-ctc-wide.log 2>&1 &
crnn=$!
$SO train asr --arch cnn-ctc --config channels=192 --config blocks=5 --init-from zoo:cnn-ctc "${wide[@]}" \
  --val-every 5 --time-budget 25 --out runs/cnn-ctc-wide > runs/cnn-ctc-wide.log 2>&1
# The distilled student: the CRNN at its 32-minute validation, structurally pruned by 40% (conv channels,
# projection and LSTM units), then trained by distillation from that snapshot (CTC + 0.3 x T^2 KL, T=2).
${PYTHON:-.venv/bin/python} recipes/finalize_from_state.py crnn-ctc runs/crnn-ctc-wide.train-state runs/crnn-ctc-wide-snap32 \
  --note "stage-2 CRNN at its 32-minute validation: the teacher the student was distilled from"
$SO prune runs/crnn-ctc-wide-snap32 --amount 0.4 --structured -o runs/crnn-pruned40 --overwrite
$SO distill runs/crnn-ctc-wide-snap32 --init-from runs/crnn-pruned40 --data corpus/train-wide --val-data corpus/dev \
  --alpha 0.3 --temperature 2 --lr 1e-3 --seed 0 --threads 1 --val-every 10 --time-budget 60 --overwrite \
  -o runs/crnn-ctc-student > runs/crnn-ctc-student.log 2>&1 &
wait $crnn
$SO zoo add runs/crnn-ctc-wide --name crnn-ctc --overwrite  # 8.77% WER: just short of the 8% bar, so ...
# ... a second, shorter cycle on fresh utterances (another seed) at a lower peak learning rate. The
# lstm-ctc was not fine-tuned: its core went to this run (its manifest was re-recorded, weights unchanged).
$SO data synth --out corpus/train-wide2 --num 16000 --seed 1 --split train
$SO train asr --arch crnn-ctc --init-from zoo:crnn-ctc --data corpus/train-wide2 --val-data corpus/dev --seed 1 \
  --threads 1 --lr 4e-4 --overwrite --val-every 8 --time-budget 25 --out runs/crnn-ctc-wide2 > runs/crnn-ctc-wide2.log 2>&1
wait
for m in crnn-ctc-wide2:crnn-ctc cnn-ctc-wide:cnn-ctc crnn-ctc-student:crnn-ctc-student; do
  $SO zoo add runs/${m%%:*} --name ${m##*:} --overwrite  # records greedy and lexicon WER/CER on zoo:eval
done

# ---- Stage 3 (a later session, about 100 minutes, one core each, side by side). The CRNN's second cycle
# stalled near 9% dev WER; fresh utterances (64,000 new ones, seeds 2 and 3) and averaging the five best
# validation checkpoints. On the other core, a milder compression than the 40% student: the bundled CRNN
# pruned by 25% (structured), then distilled from it on the same fresh data.
for s in 2 3; do
  [ -f corpus/train-wide$((s + 1))/manifest.jsonl ] || \
    $SO data synth --out corpus/train-wide$((s + 1)) --num 32000 --seed $s --split train
done
# One manifest over both folders (paths are relative to the manifest's folder).
mkdir -p corpus/train-wide34
for d in train-wide3 train-wide4; do
  sed "s#\"audio_filepath\": \"#\"audio_filepath\": \"../$d/#" corpus/$d/manifest.jsonl
done > corpus/train-wide34/manifest.jsonl
$SO train asr --arch crnn-ctc --init-from zoo:crnn-ctc --data corpus/train-wide34 --val-data corpus/dev --seed 3 \
  --threads 1 --lr 5e-4 --val-every 8 --time-budget 100 --average 5 --overwrite \
  --out runs/crnn-ctc-wide34 > runs/crnn-ctc-wide34.log 2>&1 &
$SO prune zoo:crnn-ctc --amount 0.25 --structured -o runs/crnn-pruned25 --overwrite
$SO distill zoo:crnn-ctc --init-from runs/crnn-pruned25 --data corpus/train-wide34 --val-data corpus/dev \
  --alpha 0.3 --temperature 2 --lr 1e-3 --seed 4 --threads 1 --val-every 8 --time-budget 95 --average 5 --overwrite \
  -o runs/crnn-pruned25-distilled > runs/crnn-pruned25-distilled.log 2>&1 &
wait
# As run: validation WER 6.66% (CRNN) and 7.04% (pruned); checkpoint averaging validated worse in both
# runs (7.04%, 7.27%), so each kept its best single checkpoint. On zoo:eval: 5.51% and 6.73%.
$SO zoo add runs/crnn-pruned25-distilled --name crnn-ctc-pruned25   # before crnn-ctc is replaced: its teacher
$SO zoo add runs/crnn-ctc-wide34 --name crnn-ctc --overwrite

# ---- Stage 4 (a later session, 105 minutes, one core each, side by side): both compressed models
# distilled again, now from the 5.51% CRNN, on the data that CRNN was fine-tuned on. The 25% model
# continues from its bundled weights at a lower peak rate; the 40% model is a fresh 40% structured prune
# of the new CRNN (the old student came from an early 32-minute snapshot).
$SO prune zoo:crnn-ctc --amount 0.4 --structured -o runs/crnn-pruned40-s4 --overwrite
$SO distill zoo:crnn-ctc --init-from zoo:crnn-ctc-pruned25 --data corpus/train-wide34 --val-data corpus/dev \
  --alpha 0.3 --temperature 2 --lr 5e-4 --seed 5 --threads 1 --val-every 8 --time-budget 105 --average 5 --overwrite \
  -o runs/crnn-pruned25-d2 > runs/crnn-pruned25-d2.log 2>&1 &
$SO distill zoo:crnn-ctc --init-from runs/crnn-pruned40-s4 --data corpus/train-wide34 --val-data corpus/dev \
  --alpha 0.3 --temperature 2 --lr 1e-3 --seed 6 --threads 1 --val-every 8 --time-budget 105 --average 5 --overwrite \
  -o runs/crnn-pruned40-distilled > runs/crnn-pruned40-distilled.log 2>&1 &
wait
# As run: validation WER 5.49% (25%, at 86 minutes; the CRNN teacher validates at 6.66%) and 8.71% (40%);
# averaging validated worse in both (5.66%, 9.04%) and was discarded. On zoo:eval: 5.10% and 7.34%.
$SO zoo add runs/crnn-pruned25-d2 --name crnn-ctc-pruned25 --overwrite
$SO zoo add runs/crnn-pruned40-distilled --name crnn-ctc-student --overwrite

# ---- Stage 5 (session 8, an AMD EPYC with AVX-512 VNNI; issue 14's time-parallel student): a convolution-only
# separable-ctc (QuartzNet-style, 128 channels, 5 blocks x 3 with kernels 5-13, receptive field 3.07 s,
# 464,541 parameters) distilled from scratch from zoo:crnn-ctc on one core, beside a Tacotron 2 training on
# the other. Kernels 5-13 rather than the default 13-29: at 128 channels ONNX Runtime ran the default
# 4.97 ms a 3-s utterance and this 3.90 ms (1 thread, fp32), and 3 s of context is still 3x what is asked.
[ -f corpus/train-wide3/manifest.jsonl ] || $SO data synth --out corpus/train-wide3 --num 32000 --seed 2 --split train
$SO distill zoo:crnn-ctc --student-arch separable-ctc --student-config channels=128 \
  --student-config 'kernels=[5,7,9,11,13]' --data corpus/train-wide3 --val-data corpus/dev --alpha 0.5 \
  --temperature 2 --lr 2e-3 --seed 7 --threads 1 --val-every 10 --time-budget 110 --average 5 \
  -o runs/separable-ctc-student > runs/separable-ctc-student.log 2>&1
# As run: 15:00-16:55 UTC; validation WER 15.03% at 96 minutes (averaging the 5 best validated 15.36%,
# discarded), still falling. On zoo:eval 15.81% greedy, 6.12% with the lexicon decoder.
$SO zoo add runs/separable-ctc-student --name separable-ctc-student

# ---- Stage 6 (session 9, an AMD EPYC Zen 3 with AVX2 only; issue 14 part 2): the CRNN fine-tuned to hear
# Festival and degraded audio. 6,000 utterances of both synthesizers (3,013 Festival: kal_diphone and the HMM
# voice cmu_us_slt_arctic_hts; ked_diphone stays held out), a degraded copy of them (augment defaults:
# speed 0.9/1.0/1.1, reverberation for 50%, noise for 80% at 5-30 dB, telephone band for 10%), and 12,000
# clean espeak-ng utterances so that zoo:eval does not regress. Validation (checkpoint choice) on corpus/dev
# plus a degraded dev set of the held-out voices of both synthesizers (seed 8; zoo:eval-hard is seed 2027).
[ -f corpus/train-wide4/manifest.jsonl ] || $SO data synth --out corpus/train-wide4 --num 32000 --seed 3 --split train
[ -f corpus/train-mix-a/manifest.jsonl ] || $SO data synth --out corpus/train-mix-a --num 6000 --seed 10 --split train --synth mix
[ -f corpus/train-mix-a-aug/manifest.jsonl ] || $SO data augment corpus/train-mix-a -o corpus/train-mix-a-aug --seed 12
if [ ! -f corpus/dev-hard/manifest.jsonl ]; then
  $SO data synth --out corpus/dev-hard-clean --num 300 --seed 8 --split test --synth mix --format flac
  $SO data augment corpus/dev-hard-clean -o corpus/dev-hard --seed 8 --p-noise 1.0 --p-reverb 0.7
fi
mkdir -p corpus/train-mix-crnn corpus/dev-both
{ for d in train-mix-a train-mix-a-aug; do sed "s#\"audio_filepath\": \"#\"audio_filepath\": \"../$d/#" corpus/$d/manifest.jsonl; done
  head -12000 corpus/train-wide4/manifest.jsonl | sed "s#\"audio_filepath\": \"#\"audio_filepath\": \"../train-wide4/#"
} > corpus/train-mix-crnn/manifest.jsonl
for d in dev dev-hard; do sed "s#\"audio_filepath\": \"#\"audio_filepath\": \"../$d/#" corpus/$d/manifest.jsonl; done \
  > corpus/dev-both/manifest.jsonl
# As run: a 90-minute run from zoo:crnn-ctc was stopped after 36 minutes, its validation flat at 45-48%:
# the held-out Festival voice ked_diphone, clean, was still at 89% WER (its espeak-ng half at 8.15%), so
# what it lacked was speakers, not robustness to noise (Debian has no third English Festival voice to
# train on). Its best checkpoint (epoch 2, 45.09%) went on for 70 minutes with twice the frequency warping
# (+-20%: vocal tracts of other lengths, for a model that heard two Festival speakers).
(
  $SO train asr --arch crnn-ctc --init-from zoo:crnn-ctc --data corpus/train-mix-crnn --val-data corpus/dev-both \
    --seed 10 --threads 1 --lr 5e-4 --val-every 8 --time-budget 90 --average 5 --overwrite --out runs/crnn-ctc-mix \
    > runs/crnn-ctc-mix-first36.log 2>&1 || true   # stopped by hand at 36 minutes
  ${PYTHON:-.venv/bin/python} recipes/finalize_from_state.py crnn-ctc runs/crnn-ctc-mix.train-state \
    runs/crnn-ctc-mix-snap36 --val-data corpus/dev-both --note "the mix run's best checkpoint at 36 minutes"
  rm -rf runs/crnn-ctc-mix.train-state
  $SO train asr --arch crnn-ctc --init-from runs/crnn-ctc-mix-snap36 --data corpus/train-mix-crnn \
    --val-data corpus/dev-both --seed 11 --threads 1 --lr 5e-4 --freq-warp 0.2 --val-every 8 --time-budget 70 \
    --average 5 --overwrite --out runs/crnn-ctc-mix > runs/crnn-ctc-mix.log 2>&1
) &
# On the other core, the stage-5 student trained on from its weights on fresh utterances at half the peak rate.
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide4 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 8 --threads 1 --val-every 10 --time-budget 110 --average 5 \
  -o runs/separable-ctc-student2 > runs/separable-ctc-student2.log 2>&1 &
wait
# As run (session 9): the student validated at 11.76% (from 15.03%; averaging 12.09%, discarded); on
# zoo:eval 10.76% greedy, 5.00% with the lexicon decoder. Re-bundled:
$SO zoo add runs/separable-ctc-student2 --name separable-ctc-student --overwrite
# The CRNN validated at 40.66% on dev-both; zoo:eval-hard 72.42% (was 90.93%), but zoo:eval 9.18% (was 5.51%):
# not bundled. Clean, the held-out Festival voice is still at 77% (benchmarks/results/crnn-hard-audio.md).

# ---- Stage 7 (session 11, an AMD EPYC Zen 5 with AVX-512 VNNI; issue 14 part 2): zoo:lstm-ctc (67.16% on
# zoo:eval) distilled from the CRNN teacher, frame-level KL (temperature 2) plus CTC at alpha 0.5, from its own
# weights (997,469 parameters), on the 32,000 fresh utterances of corpus/train-wide4, checkpoint chosen on
# corpus/dev. As run: started 07:40 UTC beside recipes/train-tts-models.sh tacotron-ss, one thread each.
[ -f corpus/train-wide4/manifest.jsonl ] || $SO data synth --out corpus/train-wide4 --num 32000 --seed 3 --split train
$SO distill zoo:crnn-ctc --student-arch lstm-ctc --init-from zoo:lstm-ctc --data corpus/train-wide4 \
  --val-data corpus/dev --alpha 0.5 --temperature 2 --lr 1.5e-3 --seed 12 --threads 1 --val-every 10 \
  --time-budget 100 --average 5 -o runs/lstm-ctc-distilled > runs/lstm-ctc-distilled.log 2>&1
# As run: validation 48.75% after the first epoch, 8.21% at the end (averaging 8.49%, discarded); zoo:eval
# 6.94% greedy, 3.01% with the lexicon decoder (was 67.16% / 30.90%). Bundled:
$SO zoo add runs/lstm-ctc-distilled --name lstm-ctc --overwrite

# ---- Stage 8 (session 12, an Intel Xeon with AVX-512 VNNI and AMX; issue 14 part 3): a third cycle of the
# conv student (zoo:separable-ctc-student, 10.76% on zoo:eval), since its training loss and validation WER
# were still falling when cycle 2's learning rate decayed: from its weights, on 32,000 fresh utterances
# (seed 4), the same recipe as cycle 2 over 90 minutes. As run: started 10:59 UTC beside
# recipes/train-tts-models.sh tacotron-ss2, one thread each.
[ -f corpus/train-wide5/manifest.jsonl ] || $SO data synth --out corpus/train-wide5 --num 32000 --seed 4 --split train
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide5 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 9 --threads 1 --val-every 10 --time-budget 90 --average 5 \
  -o runs/separable-ctc-student3 > runs/separable-ctc-student3.log 2>&1
# As run: after 27.4 budget minutes in fp32 (3 epochs, validation 14.03% -> 12.65%) it was stopped right after
# its epoch-3 checkpoint (11:28 UTC) and resumed for the rest of the same schedule in bf16, since a bf16 step
# was 1.4x faster on this AMX CPU and its gradients agree with fp32's (cosine 0.996,
# benchmarks/training_precision.py):
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide5 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 9 --threads 1 --val-every 10 --time-budget 90 --average 5 \
  --precision bf16 --resume -o runs/separable-ctc-student3 > runs/separable-ctc-student3-part2.log 2>&1
# As run: bf16 epochs took 359-407 s against 508-577 s in fp32 beside the same Tacotron training; validation
# 12.65% -> 8.82% by 12:33 UTC (the average of the 5 best tied the best and was kept). On zoo:eval 8.11%
# greedy, 4.28% with the lexicon decoder (was 10.76% / 5.00%). Re-bundled:
$SO zoo add runs/separable-ctc-student3 --name separable-ctc-student --overwrite

# ---- Stage 9 (session 12, the same Xeon; issue 14 part 2, and a check of --precision bf16 over whole runs):
# zoo:cnn-ctc (58.24% on zoo:eval) distilled from the CRNN teacher as lstm-ctc was (stage 7), twice side by
# side, one core each, the same seed, data and 20-minute budget: once in fp32 and once in bf16.
$SO distill zoo:crnn-ctc --init-from zoo:cnn-ctc --data corpus/train-wide5 --val-data corpus/dev --alpha 0.5 \
  --temperature 2 --lr 1.5e-3 --seed 13 --threads 1 --val-every 5 --time-budget 20 \
  -o runs/cnn-ctc-distilled-fp32 > runs/cnn-ctc-distilled-fp32.log 2>&1 &
$SO distill zoo:crnn-ctc --init-from zoo:cnn-ctc --data corpus/train-wide5 --val-data corpus/dev --alpha 0.5 \
  --temperature 2 --lr 1.5e-3 --seed 13 --threads 1 --val-every 5 --time-budget 20 --precision bf16 \
  -o runs/cnn-ctc-distilled-bf16 > runs/cnn-ctc-distilled-bf16.log 2>&1 &
wait
# As run: 12:53-13:16 UTC (beside a clean-clone `make test` for the first 6 minutes). In the same 20 minutes
# fp32 made 2,100 steps and bf16 3,995 (1.90x); validation 49.86% against 40.77%; on zoo:eval 46.40% against
# 37.84% greedy (was 58.24%). At equal steps the two validated alike (fp32 49.97% at 1,850-2,100 steps, bf16
# 51.91% at 1,850). The bf16 run was bundled (lexicon decoder 9.94%):
$SO zoo add runs/cnn-ctc-distilled-bf16 --name cnn-ctc --overwrite

# ---- Stage 10 (session 13, the session-12 Xeon again; issue 14 part 3): a fourth cycle of the conv student
# (zoo:separable-ctc-student, 8.11% on zoo:eval), since its validation WER was still falling when cycle 3's
# learning rate decayed: from its weights, on 32,000 fresh utterances (seed 5), the same recipe as cycle 3 over
# 95 minutes, all of it in bf16. As run: started 14:02 UTC beside recipes/train-tts-models.sh tacotron-ss3,
# one thread each.
[ -f corpus/train-wide6/manifest.jsonl ] || $SO data synth --out corpus/train-wide6 --num 32000 --seed 5 --split train
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide6 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 10 --threads 1 --val-every 10 --time-budget 95 --average 5 \
  --precision bf16 -o runs/separable-ctc-student4 > runs/separable-ctc-student4.log 2>&1
# As run: 12 epochs of 394-711 s (the host was slower than in session 12: 440 s against 359-407 s for the
# same bf16 epoch beside the same kind of Tacotron training); validation 10.48% after the first epoch (the
# warm restart), 7.82% at the end (the average of the 5 best, 8.10%, discarded). On zoo:eval 6.58% greedy,
# 3.26% with the lexicon decoder (was 8.11% / 4.28%); static int8 (quint8, per channel) 6.58%. Bundled, then
# replaced by stage 11's:
$SO zoo add runs/separable-ctc-student4 --name separable-ctc-student --overwrite

# ---- Stage 11 (session 13): a short fifth cycle of the conv student from stage 10's weights (6.58%), since
# its validation was still falling: half the peak rate (5e-4), 30 minutes in bf16, on corpus/train-wide5's
# utterances (seen in stage 8, not in stage 10). As run: started 15:52 UTC beside
# recipes/train-tts-models.sh tacotron-ss4, one thread each.
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide5 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 5e-4 --seed 11 --threads 1 --val-every 6 --time-budget 30 --average 5 \
  --precision bf16 -o runs/separable-ctc-student5 > runs/separable-ctc-student5.log 2>&1
# As run: validation 8.60% after the warm restart, 7.60% at the end (stage 10: 7.82%; the average of the 5 best,
# 7.65%, discarded), so it replaced stage 10's weights, chosen on corpus/dev as every bundled model is. On
# zoo:eval 6.68% greedy, 3.52% with the lexicon decoder (stage 10's: 6.58% / 3.26%, a difference of 2 and 5
# words of 1,961); static int8 (quint8, per channel) 6.99%. Bundled:
$SO zoo add runs/separable-ctc-student5 --name separable-ctc-student --overwrite

# ---- Stage 12: a sixth cycle, the full recipe of stage 10 from stage 11's weights, on 32,000 fresh utterances
# (seed 6), beside recipes/train-tts-models.sh tacotron2-cycle4, one thread each. Started at the end of session
# 13 (16:38 UTC); that machine was gone before its outcome was read. As run (session 14, a new machine of the
# same kind, Xeon family 6 model 167): the corpus made again (2 min 14 s), started 01:29 UTC.
[ -f corpus/train-wide7/manifest.jsonl ] || $SO data synth --out corpus/train-wide7 --num 32000 --seed 6 --split train
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide7 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 12 --threads 1 --val-every 10 --time-budget 95 --average 5 \
  --precision bf16 -o runs/separable-ctc-student6 > runs/separable-ctc-student6.log 2>&1
# As run: 13 epochs (363-642 s; the first four beside a benchmark on the other core); validation 9.60% after
# the first epoch, 6.71% at the end (stage 11: 7.60%; the average of the 5 best, 6.99%, discarded). On zoo:eval
# 6.22% greedy, 3.16% with the lexicon decoder; zoo:eval-hard 85.51%. Bundled:
$SO zoo add runs/separable-ctc-student6 --name separable-ctc-student --overwrite

# ---- Stage 13 (session 14): its static int8, with the calibration chosen on corpus/dev (never zoo:eval):
# quint8 activations, per-channel weights, calibrated on training utterances (corpus/train-wide7), each of
# minmax, percentile and entropy on 64 and 256 of them.
$SO export zoo:separable-ctc-student --to onnx -o runs/separable-ctc-student6+onnx --threads 1
for mn in minmax:64 minmax:256 percentile:64 percentile:256 entropy:64 entropy:256; do m=${mn%:*}; n=${mn#*:}
  $SO quantize runs/separable-ctc-student6+onnx --method static --activation-type quint8 --per-channel \
    --calibration-data corpus/train-wide7 --calibration-size "$n" --calibrate-method "$m" --validation-data corpus/dev \
    -o "runs/separable-ctc-student6+int8-$m-$n"
  $SO eval "runs/separable-ctc-student6+int8-$m-$n" --data corpus/dev --threads 1
done
# As run: on corpus/dev fp32 6.71%; minmax 7.15% / 7.32% (64 / 256), percentile 7.32% / 6.88%, entropy 7.32% /
# 7.82%. Chosen: percentile on 256. On zoo:eval 6.27% (+0.76 against the CRNN's 5.51%; the budget is +0.5),
# on zoo:eval-hard 84.52%:
$SO eval runs/separable-ctc-student6+int8-percentile-256 --threads 1
$SO eval runs/separable-ctc-student6+int8-percentile-256 --data zoo:eval-hard --threads 1

# ---- Stage 14: a seventh cycle, the recipe of stage 12 from its weights, on 32,000 fresh utterances. Not seed 7:
# `data synth --seed 7 --split train` repeats 189 of corpus/dev's 300 sentences (dev is seed 7 of the test
# split), which would leak into the checkpoint choice; seed 8 shares 2, by chance, as short random sentences
# do. Started at the end of session 14 (03:55 UTC) beside recipes/train-tts-models.sh tacotron2-cycle5; its
# outcome not yet read.
[ -f corpus/train-wide8/manifest.jsonl ] || $SO data synth --out corpus/train-wide8 --num 32000 --seed 8 --split train
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide8 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 13 --threads 1 --val-every 10 --time-budget 95 --average 5 \
  --precision bf16 -o runs/separable-ctc-student7 > runs/separable-ctc-student7.log 2>&1
# The session ended after its second epoch's validation (19 minutes) and took the process with it; resumed at
# the start of session 15 for the rest of the same schedule:
$SO distill zoo:crnn-ctc --init-from zoo:separable-ctc-student --data corpus/train-wide8 --val-data corpus/dev \
  --alpha 0.5 --temperature 2 --lr 1e-3 --seed 13 --threads 1 --val-every 10 --time-budget 95 --average 5 \
  --precision bf16 --resume -o runs/separable-ctc-student7 > runs/separable-ctc-student7-part2.log 2>&1
# That machine was gone before the run ended (its validation at epoch 11 of about 14: 7.49%, best 6.99% at
# epoch 4, against stage 12's 6.71% at the end): the warm restart to 1e-3 undid more than the cycle won back.

# ---- Stage 15 (session 16, an AMD EPYC Zen 3 with AVX2 only: no bf16 arithmetic, so fp32): an eighth cycle from
# stage 12's weights (zoo:separable-ctc-student, 6.22%), with a better teacher. On corpus/dev the student had
# caught up with its teacher (6.71% against zoo:crnn-ctc's 6.66%), so more cycles from the same teacher had
# little left to give; zoo:crnn-ctc-pruned25 validates at 5.49% (5.10% on zoo:eval). Half the peak rate (5e-4),
# 32,000 fresh utterances (seed 9: none of corpus/dev's or zoo:eval's sentences), 80 minutes, to end inside
# one session. Started 19:12 UTC beside recipes/train-tts-models.sh tacotron2-cycle5b, one thread each.
[ -f corpus/train-wide9/manifest.jsonl ] || $SO data synth --out corpus/train-wide9 --num 32000 --seed 9 --split train
$SO distill zoo:crnn-ctc-pruned25 --init-from zoo:separable-ctc-student --data corpus/train-wide9 \
  --val-data corpus/dev --alpha 0.5 --temperature 2 --lr 5e-4 --seed 14 --threads 1 --val-every 10 \
  --time-budget 80 --average 5 -o runs/separable-ctc-student8 > runs/separable-ctc-student8.log 2>&1
# As run: 19:12-20:38 UTC, 5 epochs of 751-1122 s (fp32 on AVX2 at one thread: about a third of the steps of a
# bf16 cycle on the AMX Xeon); validation 7.88% after the first epoch, best 7.27% (epoch 4; the average of the 5
# best, 7.54%, discarded). Not bundled: stage 12's weights validate better on corpus/dev (6.71%). On zoo:eval it
# gives 5.81% (stage 12's: 6.22%), which by itself would meet issue 14's budget; the two sets disagree because
# neither resolves half a point. On 1,200 fresh utterances of the held-out voices (corpus/dev2, seed 31, made
# only to weigh the two: 7,266 words; 2 of its sentences are in corpus/train-wide9) it gives 6.48% against
# stage 12's 6.54% and zoo:crnn-ctc's 6.74%
# (benchmarks/eval_resolution.py; results/eval-resolution.md: the paired 95% interval of a student-minus-CRNN
# difference is +-1.1 points on zoo:eval, +-0.55 on corpus/dev2). Pooled over corpus/dev and corpus/dev2, stage
# 12's weights are ahead (6.57% against 6.64%), so they stay bundled.
[ -f corpus/dev2/manifest.jsonl ] || $SO data synth --out corpus/dev2 --num 1200 --seed 31 --split test
.venv/bin/python benchmarks/eval_resolution.py --reference zoo:crnn-ctc \
  --models zoo:separable-ctc-student runs/separable-ctc-student8 zoo:crnn-ctc-pruned25 \
  --data zoo:eval corpus/dev corpus/dev2 --out benchmarks/results/eval-resolution
