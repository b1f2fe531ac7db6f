"""Transcribe a manifest with any inference function and score it."""

from __future__ import annotations

from typing import Callable

import numpy as np

from speechopt.audio.features import Frontend
from speechopt.audio.io import load_audio
from speechopt.decode import ctc_greedy
from speechopt.metrics import error_rates
from speechopt.progress import progress_bar

# An inference function takes features (B, T, F) float32 and lengths (B,) int64 as numpy arrays and
# returns log-probs (B, T', V) and output lengths (B,), as numpy arrays.
InferFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def iter_utterance_audio(utterances, sample_rate: int, progress: str | None = None, chunk: int = 64):
    """Waveforms of `utterances`, `chunk` at a time: a caller that keeps only features never holds them all."""
    with progress_bar(len(utterances), progress or "loading audio") as advance:
        for start in range(0, len(utterances), chunk):
            audios = [load_audio(u.audio_filepath, sample_rate) for u in utterances[start : start + chunk]]
            advance(len(audios))
            yield audios


def load_utterance_audio(utterances, sample_rate: int, progress: str | None = None) -> list[np.ndarray]:
    return [a for audios in iter_utterance_audio(utterances, sample_rate, progress) for a in audios]


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding, same for every variant)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def transcribe(infer: InferFn, frontend: Frontend, audios: list[np.ndarray], tokenizer, batch_size: int = 1,
               progress: str | None = None, decoder=None) -> tuple[list[str], list[np.ndarray]]:
    """Transcripts and per-utterance log-probs (trimmed to their length), in input order.

    `decoder(log_probs, lengths)` turns a batch into texts; greedy CTC when not given.
    """
    decoder = decoder or (lambda lp, n: ctc_greedy(lp, n, tokenizer))
    texts: list[str] = [""] * len(audios)
    logits: list[np.ndarray] = [None] * len(audios)  # type: ignore[list-item]
    batches = length_sorted_batches([len(a) for a in audios], batch_size)
    with progress_bar(len(audios), progress or "transcribing") as advance:
        for idx in batches:
            feats, frames = frontend.from_arrays([audios[i] for i in idx])
            log_probs, out_lengths = infer(feats.numpy(), frames.numpy())
            for j, i in enumerate(idx):
                logits[i] = np.asarray(log_probs[j, : int(out_lengths[j])])
            for i, text in zip(idx, decoder(log_probs, out_lengths)):
                texts[i] = text
            advance(len(idx))
    return texts, logits


def torch_infer(model) -> InferFn:
    import torch

    def infer(features, lengths):
        with torch.inference_mode():
            lp, ol = model(torch.from_numpy(features), torch.from_numpy(lengths))
        return lp.numpy(), ol.numpy()

    return infer


def make_decoder(name: str, tokenizer, lexicon_path=None, beam: int = 16):
    """The decoder named `name` ("greedy" or "lexicon") and a description of it for reports."""
    from speechopt.decode import Lexicon, ctc_lexicon_beam
    from speechopt.errors import SpeechoptError

    if name == "greedy":
        return (lambda lp, n: ctc_greedy(lp, n, tokenizer)), {"decoder": "greedy"}
    if name != "lexicon":
        raise SpeechoptError(f"unknown decoder {name!r}: choose greedy or lexicon")
    if beam < 1:
        raise SpeechoptError("--beam must be at least 1")
    if lexicon_path is None:  # the vocabulary the bundled corpus is drawn from
        from speechopt.data.synth import vocabulary

        lexicon_path, lexicon = "speechopt/data/words.txt", Lexicon(vocabulary(), tokenizer)
    else:
        lexicon = Lexicon.from_file(lexicon_path, tokenizer)
    words = sum(lexicon.is_word)
    return ((lambda lp, n: ctc_lexicon_beam(lp, n, tokenizer, lexicon, beam=beam)),
            {"decoder": "lexicon", "lexicon": str(lexicon_path), "lexicon_words": words, "beam": beam})


def evaluate_artifact(artifact_path, manifest_path, batch_size: int = 16, threads: int | None = None,
                      decoder: str = "greedy", lexicon=None, beam: int = 16, also: tuple[str, ...] = ()) -> dict:
    """WER/CER of a pytorch ASR artifact on a manifest, with greedy or lexicon-constrained decoding.

    `also` names further decoders scored on the same log-probs (no second model pass); each one's
    figures go under result[name].
    """
    import torch

    from speechopt.artifact import load_artifact
    from speechopt.data.manifest import read_manifest
    from speechopt.errors import SpeechoptError
    from speechopt.models.pytorch import load_pytorch_model
    from speechopt.text import NORMALIZATION

    if threads:
        torch.set_num_threads(threads)
    artifact = load_artifact(artifact_path)
    if artifact.task != "asr":
        raise SpeechoptError(f"{artifact.path}: eval needs an asr artifact, this one is {artifact.task}")
    decode, decoder_info = make_decoder(decoder, artifact.tokenizer(), lexicon, beam)
    model = load_pytorch_model(artifact)
    frontend = Frontend(artifact.frontend())
    utts = read_manifest(manifest_path)
    audios = load_utterance_audio(utts, frontend.config.sample_rate)
    hyps, logits = transcribe(torch_infer(model), frontend, audios, artifact.tokenizer(), batch_size=batch_size,
                              decoder=decode)
    refs = [u.text for u in utts]
    others = {}
    for name in also:
        other, info = make_decoder(name, artifact.tokenizer(), lexicon, beam)
        texts = [other(lp[None], np.array([len(lp)]))[0] for lp in logits]
        others[name] = {**info, **error_rates(refs, texts)}
    result = {"artifact": str(artifact.path), "data": str(manifest_path), "batch_size": batch_size,
              **decoder_info, "normalization": NORMALIZATION, **error_rates(refs, hyps), **others}
    result["examples"] = [{"ref": u.text, "hyp": h} for u, h in list(zip(utts, hyps))[:5]]
    return result
