"""Speed of segmint.text on BANKING77's queries: messages/s of each path, default vs fallback.

Usage: python benchmarks/bench_text.py [--n 20000] [--data ../shared/data/banking77] [--intents]

The 13,083 queries (train + test) are repeated to --n messages. Embedding, topic prediction and
intent prediction do the same work on a repeat as on a new text; sentiment scores each distinct
text once, so it is timed both on the distinct queries and on the repeated list. The topic models
(30 topics) are fitted on the test split before timing; --intents also fits the intent classifier
on the train split (about 30 s) and times its predictions. Each figure is the best of --repeat
runs; the first embedding call (which loads the model) is timed apart. The last line, ``JSON:``,
holds every figure.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from segmint.text import IntentClassifier, TopicModel, embed, sentiment

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "banking77"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rate(label, fn, n, repeat, results):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    results[label] = n / best
    rss = _rss_mib()
    print(f"{label:<34s} {n / best:>12,.0f} msgs/s  ({best:6.3f} s)   peak RSS {rss:6.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--intents", action="store_true")
    args = ap.parse_args()
    train = pd.read_csv(args.data / "train.csv.gz")
    test = pd.read_csv(args.data / "test.csv.gz")
    distinct = pd.concat([train["text"], test["text"]]).drop_duplicates().tolist()
    texts = list(np.resize(np.asarray(distinct, dtype=object), args.n))
    print(f"{len(texts):,} messages ({len(distinct):,} distinct BANKING77 queries)")

    r: dict[str, float] = {}
    t0 = time.perf_counter()
    embed(["warm up"], model="default")
    r["default model load s"] = time.perf_counter() - t0
    print(f"{'default model load (first call)':<34s} {r['default model load s']:>12.3f} s")
    _rate("embed default", lambda: embed(texts, model="default"), len(texts), args.repeat, r)
    _rate("embed hashing", lambda: embed(texts, model="hashing"), len(texts), args.repeat, r)
    _rate("sentiment (distinct texts)", lambda: sentiment(distinct), len(distinct), args.repeat, r)
    _rate("sentiment (with repeats)", lambda: sentiment(texts), len(texts), args.repeat, r)
    for model in ("default", "hashing"):
        tm = TopicModel(30, model=model).fit(test["text"].tolist())
        _rate(f"topic predict {model}", lambda tm=tm: tm.predict(texts), len(texts), args.repeat, r)
    if args.intents:
        clf = IntentClassifier().fit(train["text"].tolist(), train["category"])
        _rate("intent predict default", lambda: clf.predict(texts), len(texts), args.repeat, r)

    print(f"ratio embed default / hashing          {r['embed default'] / r['embed hashing']:.2f}")
    ratio = r["topic predict default"] / r["topic predict hashing"]
    print(f"ratio topic predict default / hashing  {ratio:.2f}")
    print("JSON: " + json.dumps({k: round(v, 3) for k, v in r.items()}))


if __name__ == "__main__":
    main()
