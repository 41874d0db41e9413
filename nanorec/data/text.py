"""Item text (e.g. movie titles) as features: words and TF-IDF weights (nanorec.data.features.
add_item_text appends them to an Interactions).

A title becomes a bag of words, each word a column. TF-IDF weighs a word up when it is frequent in
the title and down when many titles use it; with D documents (titles), a vocabulary of V words and

    tf[d, w]  = number of times word w occurs in document d
    df[w]     = number of documents that contain w
    idf[w]    = ln((1 + D) / (1 + df[w])) + 1          (smoothed: never 0, never a division by 0)
    x[d, w]   = tf[d, w] * idf[w] / || tf[d, :] * idf ||_2

every non-empty document becomes a unit-length row (N, V); a document with no known word is a row of
zeros. ``fit`` learns the vocabulary and idf from some documents; ``transform`` maps any documents,
new ones included, onto that vocabulary (unknown words are dropped), so a new item's title gets a
feature vector without refitting anything.

Words are runs of two or more letters (digits are not words: a title's "(1995)" is already the
release-year feature), lower-cased; a few English function words are dropped by default.
"""

import re

import numpy as np

from nanorec import _checks


WORD = re.compile(r"[^\W\d_]{2,}")  # two or more letters (any alphabet), no digits or underscores
ENGLISH_STOP_WORDS = frozenset("a an and as at by for from in into is it its of on or the to with".split())


def tokenize(text, stop_words=ENGLISH_STOP_WORDS):
    """The words of ``text``, lower-cased, in order: runs of >= 2 letters, stop words left out.

    >>> tokenize("Usual Suspects, The (1995)")
    ['usual', 'suspects']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    stop_words = frozenset() if stop_words is None else stop_words
    return [word for word in WORD.findall(text.lower()) if word not in stop_words]


class TfidfVectorizer:
    """Bag-of-words TF-IDF features of short texts, in plain NumPy (formulas in the module docstring).

    Parameters
    ----------
    min_df : int
        Keep words that occur in at least this many of the fitted documents.
    max_features : int or None
        Keep only the max_features words of largest df (ties: alphabetical order); None keeps all.
    stop_words : set of str or None
        Words to drop (default: a few English function words); None drops none.
    dtype : float dtype
        Of the returned matrices (float32, as Interactions stores features).

    Attributes (after fit)
    ----------------------
    vocabulary_ : dict word -> column (columns in alphabetical order of the words)
    idf_ : float64 (V,)
    """

    def __init__(self, min_df=1, max_features=None, stop_words=ENGLISH_STOP_WORDS, dtype=np.float32):
        self.min_df = _checks.positive_int(min_df, "min_df", "TfidfVectorizer")
        if max_features is not None:
            _checks.positive_int(max_features, "max_features", "TfidfVectorizer")
        self.max_features = max_features
        self.stop_words = stop_words
        self.dtype = np.dtype(dtype)

    def fit(self, texts):
        """Learn the vocabulary and idf from ``texts`` (a sequence of D strings); returns self."""
        documents = self._tokenized(texts)
        words = sorted({word for document in documents for word in document})
        column = {word: j for j, word in enumerate(words)}
        df = np.zeros(len(words), dtype=np.int64)
        for document in documents:
            df[[column[word] for word in set(document)]] += 1
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            by_df = np.argsort(-df[keep], kind="stable")  # stable: equal df keep alphabetical order
            keep = np.sort(keep[by_df[: self.max_features]])
        if len(keep) == 0:
            raise ValueError(
                f"TfidfVectorizer: no word occurs in at least min_df={self.min_df} of the "
                f"{len(documents)} documents"
            )
        self.vocabulary_ = {words[j]: k for k, j in enumerate(keep)}
        self.idf_ = np.log((1 + len(documents)) / (1 + df[keep])) + 1
        return self

    def transform(self, texts):
        """TF-IDF rows of ``texts`` on the fitted vocabulary: (N, V), unit rows (zero if no known word)."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("TfidfVectorizer is not fitted yet: call fit(texts) first")
        documents = self._tokenized(texts)
        rows, columns = [], []
        for d, document in enumerate(documents):
            known = [self.vocabulary_[word] for word in document if word in self.vocabulary_]
            rows += [d] * len(known)
            columns += known
        tf = np.zeros((len(documents), len(self.vocabulary_)), dtype=np.float64)
        np.add.at(tf, (rows, columns), 1.0)  # a word repeated in a document counts each time
        weighted = tf * self.idf_
        norms = np.linalg.norm(weighted, axis=1, keepdims=True)
        return (weighted / np.where(norms > 0, norms, 1.0)).astype(self.dtype)

    def fit_transform(self, texts):
        """``fit(texts).transform(texts)``."""
        return self.fit(texts).transform(texts)

    def feature_names(self, prefix=""):
        """The V column names, ``prefix + word``, in column order."""
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("TfidfVectorizer is not fitted yet: call fit(texts) first")
        return [prefix + word for word in sorted(self.vocabulary_, key=self.vocabulary_.get)]

    def _tokenized(self, texts):
        if isinstance(texts, str) or not hasattr(texts, "__iter__"):
            got = type(texts).__name__
            raise TypeError(f"TfidfVectorizer expects a sequence of strings (one per document), got {got}")
        documents = []
        for d, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"document {d} is a {type(text).__name__}, expected a str")
            documents.append(tokenize(text, self.stop_words))
        if not documents:
            raise ValueError("TfidfVectorizer: no documents")
        return documents
