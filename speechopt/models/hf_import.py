"""Import a local Hugging Face wav2vec2 CTC folder (save_pretrained output) as a speechopt pytorch artifact.

The folder is what `Wav2Vec2ForCTC.save_pretrained()` and `Wav2Vec2Processor.save_pretrained()` write:
config.json, model.safetensors (or pytorch_model.bin), vocab.json, tokenizer_config.json and
preprocessor_config.json (processor_config.json from transformers 5). Nothing is fetched from the hub.
The result is an ordinary artifact: a waveform frontend, a character tokenizer whose blank is the CTC
pad token, and the model's own config.json as the architecture config, so eval, export, quantize and
bench treat it like any other model.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from speechopt.artifact import Artifact
from speechopt.errors import SpeechoptError
from speechopt.models.hf_wav2vec2 import ARCH, require_transformers

logger = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPE = "wav2vec2"
SUPPORTED_HEAD = "Wav2Vec2ForCTC"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # in order of preference: safetensors never unpickles
PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")  # transformers 4, transformers 5
TOKENIZER_FILES = ("vocab.json", "tokenizer_config.json", "added_tokens.json")
SPECIAL_DEFAULTS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}
# Tokens such as <unk> or <s> are markers, not text: HF's decode would print them literally.
MARKER = re.compile(r"^<[^<>]+>$")
# Old checkpoints store the positional convolution's weight norm as weight_g/weight_v, newer torch builds
# it with parametrizations (original0/original1); transformers renames them on load, and so do we.
WEIGHT_NORM_NAMES = ((".weight_g", ".parametrizations.weight.original0"),
                     (".weight_v", ".parametrizations.weight.original1"))


@dataclass
class HFFolder:
    """What the import needs from the folder, already checked."""

    path: Path
    config: dict
    weights: Path
    files: list[Path]  # every file the import read (their checksums go into the lineage)
    vocabulary: list[str]
    blank_id: int
    sample_rate: int
    do_normalize: bool
    return_attention_mask: bool | None


def import_hf_wav2vec2(folder, out, *, overwrite: bool = False, log=None) -> Artifact:
    """Import the save_pretrained folder `folder` as a pytorch ASR artifact at `out`.

    Raises SpeechoptError (one line) when transformers is missing, the folder is not a wav2vec2 CTC model
    with a character vocabulary, or its weights do not fit the config; nothing is written then.
    """
    transformers = require_transformers()
    say = log or logger.info
    out = Path(out)
    if out.exists() and not overwrite:
        raise SpeechoptError(f"{out} already exists (use --overwrite to replace it)")
    source = read_hf_folder(folder)
    model, ignored = _load_model(source)
    if ignored:
        say(f"ignored {len(ignored)} weights the CTC model does not use (first: {ignored[0]})")
    _smoke_test(model, source)
    if source.return_attention_mask not in (None, model.uses_attention_mask):
        say(f"note: the processor says return_attention_mask={source.return_attention_mask}; speechopt passes "
            f"a mask only to layer-norm feature encoders (this one: {source.config.get('feat_extract_norm')!r}), "
            "as transformers documents for wav2vec2")

    from speechopt.audio.features import FrontendConfig
    from speechopt.io import sha256_file
    from speechopt.models.pytorch import save_pytorch_artifact
    from speechopt.text import CharTokenizer

    frontend = FrontendConfig(kind="waveform", sample_rate=source.sample_rate,
                              normalize="per_utterance" if source.do_normalize else "none")
    tokenizer = CharTokenizer(source.vocabulary, source.blank_id)
    settings = {
        "source": str(source.path.resolve()),
        "source_files": {f.name: sha256_file(f) for f in source.files},
        "transformers": transformers.__version__,
        "weights": source.weights.name,
        "ignored_weights": ignored,
        "attention_mask": model.uses_attention_mask,
        "processor_return_attention_mask": source.return_attention_mask,
        "tokenizer": "vocab.json by id; word delimiter -> space, special tokens -> '' (dropped), letters lower-cased",
    }
    from speechopt.tasks.asr import manifest_fields

    return save_pytorch_artifact(out, model, ARCH, architecture_config(source.config),
                                 manifest_fields(frontend, tokenizer),
                                 step="import", settings=settings, overwrite=overwrite)


def architecture_config(hf_config: dict) -> dict:
    """The registry config: the model's config.json, plus speechopt's input width (one sample per step)."""
    return {**hf_config, "n_features": 1}


# -- reading the folder ------------------------------------------------------------------------------

def read_hf_folder(folder) -> HFFolder:
    path = Path(folder)
    if not path.exists():
        raise SpeechoptError(f"{path}: folder not found (speechopt does not download from the Hugging Face hub: "
                             "pass a local folder written by save_pretrained)")
    if not path.is_dir():
        raise SpeechoptError(f"{path}: not a folder (expected the output of save_pretrained)")
    config = _read_json(path / "config.json", "the model config; save the model with save_pretrained")
    _check_model_type(path, config)
    weights = _weights_file(path)
    sample_rate, do_normalize, return_mask = _read_preprocessor(path)
    vocabulary, blank_id = read_vocabulary(path, config)
    read = [path / n for n in ("config.json", *PREPROCESSOR_FILES, *TOKENIZER_FILES) if (path / n).is_file()]
    return HFFolder(path, config, weights, sorted([*read, weights]), vocabulary, blank_id, sample_rate,
                    do_normalize, return_mask)


def _read_json(file: Path, what: str) -> dict:
    if not file.is_file():
        raise SpeechoptError(f"{file.parent}: no {file.name} ({what})")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpeechoptError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SpeechoptError(f"{file}: expected a JSON object")
    return data


def _check_model_type(path: Path, config: dict) -> None:
    model_type = config.get("model_type")
    if model_type != SUPPORTED_MODEL_TYPE:
        raise SpeechoptError(f"{path}: model_type {model_type!r} is not supported; speechopt imports "
                             f"{SUPPORTED_MODEL_TYPE} CTC models ({SUPPORTED_HEAD}) only")
    heads = config.get("architectures") or []
    if heads and SUPPORTED_HEAD not in heads:
        raise SpeechoptError(f"{path}: a {', '.join(map(str, heads))} checkpoint has no CTC head; "
                             f"speechopt imports {SUPPORTED_HEAD} models only")


def _weights_file(path: Path) -> Path:
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return path / name
    if any((path / f"{name}.index.json").is_file() for name in WEIGHT_FILES):
        raise SpeechoptError(f"{path}: sharded checkpoints are not supported; save with a larger max_shard_size")
    raise SpeechoptError(f"{path}: no weights ({' or '.join(WEIGHT_FILES)})")


def _read_preprocessor(path: Path) -> tuple[int, bool, bool | None]:
    """Sampling rate, do_normalize and return_attention_mask of the Wav2Vec2FeatureExtractor."""
    found = [path / name for name in PREPROCESSOR_FILES if (path / name).is_file()]
    if not found:
        raise SpeechoptError(f"{path}: no {' or '.join(PREPROCESSOR_FILES)} (save the Wav2Vec2Processor or "
                             "Wav2Vec2FeatureExtractor with save_pretrained into the same folder)")
    data = _read_json(found[0], "")
    extractor = data.get("feature_extractor", data)  # transformers 5 nests it in processor_config.json
    kind = extractor.get("feature_extractor_type", "Wav2Vec2FeatureExtractor")
    if kind != "Wav2Vec2FeatureExtractor":
        raise SpeechoptError(f"{found[0]}: feature extractor {kind!r} is not supported (Wav2Vec2FeatureExtractor, "
                             "raw waveform input, only)")
    rate = extractor.get("sampling_rate", 16000)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1000 <= rate <= 384000:
        raise SpeechoptError(f"{found[0]}: sampling_rate {rate!r} is not a sample rate in Hz")
    if extractor.get("feature_size", 1) != 1:
        raise SpeechoptError(f"{found[0]}: feature_size {extractor['feature_size']} (speechopt feeds mono audio)")
    mask = extractor.get("return_attention_mask")
    return rate, bool(extractor.get("do_normalize", True)), None if mask is None else bool(mask)


def _token_text(value) -> str | None:
    """A special token from tokenizer_config.json: a string, or {"content": ...} in older files."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_vocabulary(path: Path, config: dict) -> tuple[list[str], int]:
    """vocab.json as a character list indexed by id, and the CTC blank id.

    The word delimiter becomes a space; special tokens (<pad>, <s>, </s>, <unk>, other <...> markers)
    become "" so that decoding drops them; letters are lower-cased (WER normalization lower-cases anyway).
    """
    raw = _read_json(path / "vocab.json", "the character vocabulary; save the Wav2Vec2Processor with save_pretrained")
    if raw and all(isinstance(v, dict) for v in raw.values()):
        raise SpeechoptError(f"{path / 'vocab.json'}: one vocabulary per language (target_lang) is not supported")
    tok_config = {}
    if (path / "tokenizer_config.json").is_file():
        tok_config = _read_json(path / "tokenizer_config.json", "")
    if (path / "added_tokens.json").is_file():  # transformers 4 keeps tokens added after training here
        raw = {**raw, **_read_json(path / "added_tokens.json", "")}
    ids = {}
    for token, i in raw.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise SpeechoptError(f"{path / 'vocab.json'}: id of {token!r} is {i!r}, not a token id")
        ids[token] = i
    size = config.get("vocab_size")
    if not isinstance(size, int) or size < 2:
        raise SpeechoptError(f"{path / 'config.json'}: vocab_size {size!r} is not a vocabulary size")
    if max(ids.values(), default=-1) >= size:
        raise SpeechoptError(f"{path / 'vocab.json'}: token ids reach {max(ids.values())}, but the model's "
                             f"vocab_size is {size}")

    named = {key: _token_text(tok_config.get(key, default)) for key, default in SPECIAL_DEFAULTS.items()}
    delimiter = _token_text(tok_config.get("word_delimiter_token", "|")) or "|"
    special = {t for t in named.values() if t}
    special |= {t for t in map(_token_text, tok_config.get("additional_special_tokens") or []) if t}
    vocabulary = [""] * size  # ids the vocabulary leaves unused decode to nothing
    for token, i in ids.items():
        if token == delimiter:
            vocabulary[i] = " "
        elif token in special or MARKER.match(token):
            vocabulary[i] = ""
        elif len(token) == 1:
            vocabulary[i] = token.lower()
        else:
            raise SpeechoptError(f"{path / 'vocab.json'}: token {token!r} is not a single character; speechopt "
                                 "imports character vocabularies only")

    # CTC's blank is the model's pad_token_id (transformers passes it to ctc_loss as blank); the
    # tokenizer's pad token must be the same id, or HF's own decoding would disagree with training.
    pad = named["pad_token"]
    tokenizer_pad = ids.get(pad) if pad else None
    blank = config.get("pad_token_id", tokenizer_pad)
    if not isinstance(blank, int) or not 0 <= blank < size:
        raise SpeechoptError(f"{path}: no CTC blank: config.json has no pad_token_id and vocab.json no {pad!r}")
    if tokenizer_pad is not None and tokenizer_pad != blank:
        raise SpeechoptError(f"{path}: config.json's pad_token_id {blank} (the CTC blank) differs from the "
                             f"tokenizer's pad token {pad!r} (id {tokenizer_pad})")
    return vocabulary, blank


# -- weights -----------------------------------------------------------------------------------------

def read_state_dict(weights: Path) -> dict:
    """Tensors from safetensors, or from a .bin with torch.load(weights_only=True): no code is unpickled."""
    import torch

    try:
        if weights.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(weights))
        state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip readers raise many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SpeechoptError(f"{weights}: cannot read weights safely ({type(exc).__name__}: {first[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpeechoptError(f"{weights}: not a state dict of tensors")
    return state


def match_weight_names(state: dict, expected) -> tuple[dict, list[str], list[str]]:
    """Rename legacy weight-norm keys to the model's; returns (state, missing, unexpected)."""
    expected = set(expected)
    matched, unexpected = {}, []
    renames = WEIGHT_NORM_NAMES + tuple((new, old) for old, new in WEIGHT_NORM_NAMES)
    for key, value in state.items():
        target = key
        if key not in expected:
            for old, new in renames:
                if key.endswith(old) and key[: -len(old)] + new in expected:
                    target = key[: -len(old)] + new
                    break
        if target in expected:
            matched[target] = value
        else:
            unexpected.append(key)
    return matched, sorted(expected - set(matched)), sorted(unexpected)


def _load_model(source: HFFolder):
    from speechopt.models.registry import get_architecture

    try:
        model = get_architecture(ARCH).build(architecture_config(source.config))
    except (TypeError, ValueError, KeyError) as exc:  # transformers rejects a config it cannot build
        raise SpeechoptError(f"{source.path / 'config.json'}: transformers cannot build Wav2Vec2ForCTC from it "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    state, missing, unexpected = match_weight_names(read_state_dict(source.weights), model.model.state_dict())
    if missing:
        raise SpeechoptError(f"{source.weights}: {len(missing)} weights of the model are missing (first: "
                             f"{missing[0]}); is this a {SUPPORTED_HEAD} checkpoint?")
    try:
        model.model.load_state_dict(state, strict=True)  # float16/bfloat16 checkpoints are cast to float32
    except RuntimeError as exc:
        lines = [x.strip() for x in str(exc).splitlines() if "size mismatch" in x] or [str(exc).splitlines()[0]]
        raise SpeechoptError(f"{source.weights}: weights do not fit config.json ({lines[0][:300]})") from None
    return model.eval(), unexpected


def _smoke_test(model, source: HFFolder) -> None:
    """One second of noise through the model: output width and finiteness, before anything is written."""
    import torch

    samples = torch.randn(1, source.sample_rate, 1, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        log_probs, lengths = model(samples, torch.tensor([source.sample_rate]))
    if log_probs.shape[-1] != len(source.vocabulary) or not torch.isfinite(log_probs).all():
        raise SpeechoptError(f"{source.path}: the imported model gives {tuple(log_probs.shape)} outputs "
                             f"(non-finite: {not bool(torch.isfinite(log_probs).all())}) for a vocabulary of "
                             f"{len(source.vocabulary)}")
