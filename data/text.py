"""Token data: synthetic sequence-to-sequence tasks (reverse, copy, sort) and a generated sentiment set.

Both are generated from a fixed vocabulary, so nothing is shipped or downloaded and the vocabulary (ids) does
not depend on the seed.
"""

from __future__ import annotations

import string

import numpy as np

from data.base import (
    Builtin,
    Dataset,
    Option,
    Task,
    assemble,
    rng_for,
    split_indices,
)

PAD, BOS, UNK = 0, 1, 1  # sequence sets use 1 as BOS; the sentiment set uses 1 for unknown words


def symbol_names(n_symbols: int) -> list[str]:
    """Readable token text: 0-9, then a-z, then s36, s37, ..."""
    alphabet = string.digits + string.ascii_lowercase
    return [alphabet[i] if i < len(alphabet) else f"s{i}" for i in range(n_symbols)]


def prepare_sequence(
    task: str, seed: int, fractions: tuple[float, float], length: int, n_symbols: int, n_samples: int
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Random symbol sequences (ids 2 and up) and their reversed / copied / sorted targets."""
    rng = rng_for(seed, 1)
    src = rng.integers(2, 2 + n_symbols, size=(n_samples, length), dtype=np.int64)
    target = {"reverse": src[:, ::-1], "copy": src, "sort": np.sort(src, axis=1)}[task].copy()
    # Teacher forcing: the decoder reads BOS followed by the target shifted right by one step.
    tgt = np.concatenate([np.full((n_samples, 1), BOS, dtype=np.int64), target[:, :-1]], axis=1)
    return [src, tgt], target, split_indices(n_samples, seed, None, fractions), {}


def _build_sequence(task: str, seed: int, fractions: tuple[float, float], length: int, n_symbols: int,
                    n_samples: int) -> Dataset:
    inputs, target, indices, _ = prepare_sequence(task, seed, fractions, length, n_symbols, n_samples)
    return assemble(
        inputs,
        target,
        indices,
        name=task,
        description=_SEQUENCE_DESCRIPTIONS[task] + f" Length {length}, {n_symbols} symbols.",
        task=Task.SEQUENCE,
        input_names=("src", "tgt"),
        vocab_size=n_symbols + 2,
        pad_id=PAD,
        vocab=["<pad>", "<bos>", *symbol_names(n_symbols)],
        default_template="transformer_seq2seq" if task == "reverse" else "seq2seq_lstm",
        extras={"bos_id": BOS},
    )


_SEQUENCE_DESCRIPTIONS = {
    "reverse": "Reverse a sequence of symbols; attention should trace the anti-diagonal.",
    "copy": "Copy a sequence of symbols; attention should trace the diagonal.",
    "sort": "Sort a sequence of symbols into ascending order.",
}

# --- sentiment -----------------------------------------------------------------------------------------------

_SUBJECTS = [
    "movie",
    "film",
    "book",
    "story",
    "plot",
    "acting",
    "ending",
    "food",
    "meal",
    "pizza",
    "coffee",
    "service",
    "staff",
    "hotel",
    "room",
    "phone",
    "camera",
    "battery",
    "screen",
    "song",
    "album",
    "game",
    "show",
    "restaurant",
    "app",
    "teacher",
    "class",
    "trip",
    "concert",
    "price",
]
_POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "amazing",
    "fantastic",
    "brilliant",
    "lovely",
    "enjoyable",
    "delightful",
    "superb",
    "perfect",
    "fun",
    "nice",
    "beautiful",
    "charming",
    "pleasant",
    "impressive",
    "outstanding",
    "solid",
]
_NEGATIVE = [
    "bad",
    "terrible",
    "awful",
    "horrible",
    "boring",
    "dull",
    "poor",
    "disappointing",
    "weak",
    "annoying",
    "ugly",
    "slow",
    "broken",
    "cheap",
    "mediocre",
    "bland",
    "painful",
    "messy",
    "useless",
    "rude",
]
_LIKE = ["love", "like", "enjoy", "adore", "recommend", "appreciate"]
_DISLIKE = ["hate", "dislike", "regret", "despise", "resent", "avoid"]
_DETERMINERS = ["the", "this", "that", "my", "our", "their"]
_BE = ["was", "is", "seemed", "felt", "looked"]
_INTENSIFIERS = ["very", "really", "so", "quite", "truly", "extremely", "rather"]
_OPENERS = ["honestly", "overall", "well", "frankly", "sadly", "luckily", "again", "yesterday"]
_ENDINGS = ("to me", "for the price", "this time", "as usual", "in the end", "for sure")
_GLUE = ["i", "did", "do", "not", "never", "and", "but", "it"]  # function words the templates use


def sentiment_vocab() -> list[str]:
    """id -> word: <pad>, <unk>, then every word the generator can produce (sorted, seed-independent)."""
    words = {
        *_SUBJECTS,
        *_POSITIVE,
        *_NEGATIVE,
        *_LIKE,
        *_DISLIKE,
        *_DETERMINERS,
        *_BE,
        *_INTENSIFIERS,
        *_OPENERS,
        *_GLUE,
        *" ".join(_ENDINGS).split(),
        "at",
        "all",
    }
    return ["<pad>", "<unk>", *sorted(words)]


def _clause(rng: np.random.Generator, positive: bool, negated: bool) -> list[str]:
    """One clause whose meaning is ``positive``; with ``negated`` it says the opposite word plus not/never."""
    word_positive = positive != negated
    if rng.random() < 0.6:  # "the food was (not) (very) good"
        words = [rng.choice(_DETERMINERS), rng.choice(_SUBJECTS), rng.choice(_BE)]
        if negated:
            words.append(rng.choice(["not", "never"]))
            if words[-1] == "never":
                words[2] = "was"  # "felt never good" is not English; "was never good" is
        if rng.random() < 0.4:
            words.append(rng.choice(_INTENSIFIERS))
        words.append(rng.choice(_POSITIVE if word_positive else _NEGATIVE))
        if not negated and rng.random() < 0.3:  # "not X and Y" would leave the scope of "not" unclear
            words += ["and", rng.choice(_POSITIVE if word_positive else _NEGATIVE)]
        if negated and rng.random() < 0.3:
            words += ["at", "all"]
        return [str(w) for w in words]
    words = ["i"] + (
        [str(rng.choice(["did", "do"])), "not"] if negated else []
    )  # "i (did not) love the film"
    if not negated and rng.random() < 0.3:
        words.append(str(rng.choice(["really", "truly"])))
    words.append(str(rng.choice(_LIKE if word_positive else _DISLIKE)))
    return words + [str(rng.choice(_DETERMINERS)), str(rng.choice(_SUBJECTS))]


def generate_sentence(rng: np.random.Generator, positive: bool, negation: float, contrast: float) -> str:
    """A sentence with the given label; sometimes negated, sometimes "X but Y" where Y decides."""
    words: list[str] = [str(rng.choice(_OPENERS))] if rng.random() < 0.25 else []
    if rng.random() < contrast:
        words += _clause(rng, not positive, False) + ["but"]
    words += _clause(rng, positive, bool(rng.random() < negation))
    if rng.random() < 0.25:
        words += str(rng.choice(_ENDINGS)).split()
    return " ".join(words)


def encode_text(text: str, vocab: list[str], length: int, padding: str = "pre") -> list[int]:
    """Word ids padded with 0 to ``length`` (unknown words -> 1). "pre" pads on the left and keeps the last
    words, so a recurrent model's last step sees the end of the sentence (as Keras's pad_sequences does)."""
    index = {word: i for i, word in enumerate(vocab)}
    ids = [index.get(word, UNK) for word in text.lower().split()]
    if padding == "pre":
        ids = ids[-length:]
        return [PAD] * (length - len(ids)) + ids
    ids = ids[:length]
    return ids + [PAD] * (length - len(ids))


def decode_ids(ids: list[int], vocab: list[str]) -> str:
    """The words behind ids, padding left out."""
    return " ".join(vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in ids if i != PAD)


def prepare_sentiment(
    seed: int, fractions: tuple[float, float], n_samples: int, length: int, padding: str, negation: float,
    contrast: float
) -> tuple[list[np.ndarray], np.ndarray, tuple[np.ndarray, ...], dict]:
    """Generated review sentences as word ids, exactly balanced between negative (0) and positive (1)."""
    rng = rng_for(seed, 1)
    labels = (np.arange(n_samples) % 2)[rng.permutation(n_samples)].astype(np.int64)  # exactly balanced
    texts = [generate_sentence(rng, bool(label), negation, contrast) for label in labels]
    vocab = sentiment_vocab()
    tokens = np.array([encode_text(t, vocab, length, padding) for t in texts], dtype=np.int64)
    return [tokens], labels, split_indices(n_samples, seed, labels, fractions), {"texts": texts, "vocab": vocab}


def _build_sentiment(
    seed: int, fractions: tuple[float, float], n_samples: int, length: int, padding: str, negation: float,
    contrast: float
) -> Dataset:
    inputs, labels, indices, info = prepare_sentiment(seed, fractions, n_samples, length, padding, negation,
                                                      contrast)
    texts, vocab = info["texts"], info["vocab"]
    return assemble(
        inputs,
        labels,
        indices,
        name="sentiment",
        description=f"{n_samples} generated review sentences, positive or negative, with negation "
        f"(“not good”) and contrast (“… but …”); word ids padded to {length}.",
        task=Task.CLASSIFICATION,
        input_names=("tokens",),
        num_classes=2,
        class_names=["negative", "positive"],
        vocab_size=len(vocab),
        pad_id=PAD,
        vocab=vocab,
        default_template="lstm_text",
        extras={
            "texts": {part: [texts[i] for i in idx] for part, idx in zip(("train", "val", "test"), indices)},
            "unk_id": UNK,
            "padding": padding,
        },
    )


_SEQUENCE_OPTIONS = {
    "length": Option(8, "symbols per sequence", None, 2, 512),
    "n_symbols": Option(10, "distinct symbols (vocabulary = symbols + PAD + BOS)", None, 2, 1000),
    "n_samples": Option(4000, "number of sequences", None, 20, 1_000_000),
}

BUILTINS = [
    *(
        Builtin(
            task,
            _SEQUENCE_DESCRIPTIONS[task],
            Task.SEQUENCE,
            "transformer_seq2seq" if task == "reverse" else "seq2seq_lstm",
            _SEQUENCE_OPTIONS,
            lambda seed, fractions, _task=task, **options: _build_sequence(_task, seed, fractions, **options),
            prepare_sequence,
            (("task", task),),
        )
        for task in ("reverse", "copy", "sort")
    ),
    Builtin(
        "sentiment",
        "Generated review sentences, positive or negative, with negation; word ids for Embedding → LSTM.",
        Task.CLASSIFICATION,
        "lstm_text",
        {
            "n_samples": Option(3000, "number of sentences", None, 20, 1_000_000),
            "length": Option(24, "word ids per sentence (padded or cut)", None, 4, 512),
            "padding": Option(
                "pre", "pre: pad on the left (RNN-friendly); post: on the right", ("pre", "post")
            ),
            "negation": Option(0.35, "share of negated clauses (“not good”)", None, 0, 1),
            "contrast": Option(0.1, "share of “X but Y” sentences, where Y decides", None, 0, 1),
        },
        _build_sentiment,
        prepare_sentiment,
    ),
]
