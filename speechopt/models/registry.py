"""The architecture registry: a name maps to a task, a builder, its default configuration and its export
config (which graphs the model is cut into: `speechopt.models.export_config`).

Artifacts store the architecture name and its full configuration, so a model is rebuilt from the
registry and its weights are loaded as plain tensors: no pickled code ever runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from speechopt.errors import SpeechoptError


@dataclass(frozen=True)
class Architecture:
    name: str
    task: str  # asr | tts | vocoder
    target: str  # "module:Class", imported only when a model is built
    defaults: dict
    summary: str
    # False for imported models whose config is another library's (a Hugging Face config.json): keys beyond
    # the defaults are passed through to the builder, which validates them.
    strict_keys: bool = True
    export: str = "speechopt.models.asr_export:CtcExportConfig"  # "module:Class" of its ExportConfig

    def build(self, config: dict):
        return _load(self.target)(**self.full_config(config))

    def export_config(self, manifest: dict):
        """The export config for an artifact's manifest (architecture config, frontend, ...)."""
        return _load(self.export)(manifest)

    def full_config(self, config: dict) -> dict:
        unknown = set(config) - set(self.defaults)
        if unknown and self.strict_keys:
            raise SpeechoptError(f"{self.name}: unknown config keys {sorted(unknown)}; known: {sorted(self.defaults)}")
        return {**self.defaults, **config}


def _load(target: str):
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


_ASR_IO = {"n_features": 64, "vocab_size": 29}

_REGISTRY: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture(
            "cnn-ctc", "asr", "speechopt.models.asr:CNNCTC",
            {**_ASR_IO, "channels": 256, "kernel_size": 5, "blocks": 6, "dropout": 0.1},
            "1-D convolutions over time (2x subsampling), residual blocks, CTC",
        ),
        Architecture(
            "lstm-ctc", "asr", "speechopt.models.asr:RNNCTC",
            {**_ASR_IO, "rnn": "lstm", "hidden": 192, "layers": 3, "bidirectional": True, "dropout": 0.1},
            "2x frame stacking, stacked (bi)LSTM or GRU, CTC",
        ),
        Architecture(
            "crnn-ctc", "asr", "speechopt.models.asr:CRNNCTC",
            {**_ASR_IO, "conv_channels": 32, "proj": 256, "hidden": 192, "layers": 2, "dropout": 0.1},
            "2-D conv front end (2x time subsampling), bidirectional LSTM, linear to characters, CTC",
        ),
        Architecture(
            "separable-ctc", "asr", "speechopt.models.asr:SeparableCTC",
            {**_ASR_IO, "channels": 128, "blocks": 5, "repeats": 3, "kernels": [13, 17, 21, 25, 29], "dropout": 0.1},
            "convolution only, in QuartzNet's manner: stride-2 stem, depthwise-separable residual blocks "
            "(receptive field 6.7 s), CTC; parallel over time",
            export="speechopt.models.asr_export:SeparableCtcExportConfig",
        ),
        Architecture(
            "hf-wav2vec2-ctc", "asr", "speechopt.models.hf_wav2vec2:HFWav2Vec2CTC",
            {"n_features": 1, "vocab_size": 32},
            "Hugging Face Wav2Vec2ForCTC (speechopt import-hf): raw waveform in, character CTC out; "
            "config is the model's config.json",
            strict_keys=False,
        ),
        Architecture(
            "tacotron2", "tts", "speechopt.models.tts.tacotron2:Tacotron2",
            # the constructor's defaults (speechopt.models.tts.tacotron2.Tacotron2), tuples as lists (JSON)
            {"vocab_size": 34, "n_mels": 80, "reduction": 2, "embedding_dim": 128, "encoder_conv_channels": 128,
             "encoder_conv_layers": 3, "encoder_kernel": 5, "encoder_dim": 128, "attention_rnn_dim": 256,
             "decoder_rnn_dim": 256, "prenet_dims": [128, 128], "prenet_dropout": 0.5, "attention_dim": 64,
             "location_filters": 16, "location_kernel": 31, "postnet_channels": 128, "postnet_layers": 5,
             "postnet_kernel": 5, "encoder_dropout": 0.5, "postnet_dropout": 0.5, "attention_dropout": 0.1,
             "decoder_dropout": 0.1},
            "Tacotron 2: conv + BiLSTM encoder, location-sensitive attention, prenet, two LSTM cells, stop gate, "
            "postnet; three graphs (encoder, decoder_step, postnet)",
            export="speechopt.models.tts.export:Tacotron2ExportConfig",
        ),
        Architecture(
            "tacotron", "tts", "speechopt.models.tts.tacotron:Tacotron",
            # the constructor's defaults (speechopt.models.tts.tacotron.Tacotron)
            {"vocab_size": 34, "n_mels": 80, "n_freq": 513, "reduction": 3, "embedding_dim": 128,
             "encoder_prenet_dims": [128, 64], "encoder_bank": 8, "cbhg_channels": 64, "highway_layers": 2,
             "encoder_gru": 64, "prenet_dims": [128, 64], "prenet_dropout": 0.5, "attention_rnn_dim": 128,
             "attention_dim": 64, "decoder_rnn_dim": 128, "post_bank": 8, "post_gru": 64, "encoder_dropout": 0.5},
            "Tacotron: CBHG encoder, content attention GRU decoder (residual GRUs, reduction factor, stop gate), "
            "post-CBHG to a log linear spectrogram for Griffin-Lim; three graphs (encoder, decoder_step, postnet)",
            export="speechopt.models.tts.export:TacotronExportConfig",
        ),
        Architecture(
            "fastspeech", "tts", "speechopt.models.tts.fastspeech:FastSpeech",
            # the constructor's defaults (speechopt.models.tts.fastspeech.FastSpeech)
            {"vocab_size": 34, "n_mels": 80, "d_model": 128, "heads": 2, "ffn_dim": 384, "ffn_kernel": 3,
             "encoder_layers": 2, "decoder_layers": 2, "dropout": 0.1, "predictor_channels": 128,
             "predictor_kernel": 3, "predictor_dropout": 0.1, "postnet_layers": 0, "postnet_channels": 256,
             "postnet_kernel": 5},
            "FastSpeech: FFT-block encoder, duration predictor (espeak durations), tensor-op length regulator, "
            "FFT-block decoder; one graph (model) with dynamic text and frame lengths",
            export="speechopt.models.tts.fastspeech_export:FastSpeechExportConfig",
        ),
        Architecture(
            "wavenet", "vocoder", "speechopt.models.tts.wavenet:WaveNet",
            # the constructor's defaults (speechopt.models.tts.wavenet.WaveNet); mel_mean/std: the training set's
            {"n_mels": 80, "classes": 256, "residual_channels": 32, "gate_channels": 64, "skip_channels": 64,
             "layers": 16, "dilation_cycle": 8, "cond_channels": 32, "upsample_scales": [4, 5, 10],
             "mel_mean": 0.0, "mel_std": 1.0},
            "WaveNet vocoder: mu-law 256, dilated causal convolutions (kernel 2), gated units, residual and skip "
            "connections, learned upsampling of the mel; naive and cached (fast WaveNet) generation",
            export="speechopt.models.tts.wavenet_export:WaveNetExportConfig",
        ),
        Architecture(
            "griffin-lim", "vocoder", "speechopt.models.tts.griffin_lim:GriffinLim",
            {"n_iter": 32, "momentum": 0.99, "init": "zeros"},
            "fast Griffin-Lim (Perraudin et al. 2013, momentum) from the mel's pseudo-inverse; no weights, "
            "deterministic (fixed initial phase)",
            export="speechopt.models.tts.griffin_lim:GriffinLimExportConfig",
        ),
    ]
}


def get_architecture(name: str) -> Architecture:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpeechoptError(f"unknown architecture {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def register_architecture(architecture: Architecture) -> None:
    """Add an architecture (models of later tasks register here; tests register toys)."""
    _REGISTRY[architecture.name] = architecture


def build_model(name: str, config: dict | None = None):
    return get_architecture(name).build(config or {})


def list_architectures(task: str | None = None) -> list[Architecture]:
    return [a for a in _REGISTRY.values() if task is None or a.task == task]
