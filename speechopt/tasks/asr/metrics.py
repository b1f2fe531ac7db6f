"""Word and character error rates (jiwer) after the stated text normalization."""

from __future__ import annotations

from speechopt.text import normalize_text


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """Corpus-level WER and CER (errors over reference words/characters), both as fractions."""
    import jiwer

    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]  # jiwer refuses empty references
    refs = [refs[i] for i in keep]
    hyps = [hyps[i] for i in keep]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {
        "wer": float(words.wer),
        "cer": float(chars.cer),
        "utterances": len(refs),
        "ref_words": sum(len(r.split()) for r in refs),
        "word_errors": words.substitutions + words.deletions + words.insertions,
    }
