"""Several Python threads on one index: the GIL is released in every engine call,
concurrent searches give the serial answers, and writes, flushes and close() run
beside searches without crashing anything."""

import threading
import time

import numpy as np
import pytest

import quarry
from conftest import clustered


def test_concurrent_searches_equal_serial(sift, sift_index):
    _, q, _ = sift
    params = [dict(nprobe=p) for p in (1, 2, 4, 8, 16, 32)]
    want = [sift_index.search(q, 10, **p) for p in params]
    errors, results = [], {}

    def worker(t):
        try:
            for rep in range(5):
                i = (t + rep) % len(params)
                results[(t, rep)] = (i, sift_index.search(q, 10, **params[i]))
                # Each thread sees the statistics of its own last search.
                assert np.all(sift_index.last_search.partitions == params[i]["nprobe"])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 30
    for i, (D, I) in results.values():
        assert np.array_equal(I, want[i][1]) and np.array_equal(D, want[i][0])


def test_the_gil_is_released_during_a_search(tmp_path):
    # A search that takes a while (exact plan over everything, one big batch) ...
    x = clustered(20_000, 64, seed=17)
    index = quarry.build(x, tmp_path / "idx", partitions=16, writable=False)
    q = clustered(4000, 64, seed=18)
    t0 = time.perf_counter()
    index.search(q, 10, nprobe=16)
    alone = time.perf_counter() - t0
    reps = max(1, int(np.ceil(0.6 / alone)))

    done = threading.Event()

    def search():
        for _ in range(reps):
            index.search(q, 10, nprobe=16)
        done.set()

    # ... while this thread keeps running Python code. Holding the GIL through the
    # call would stall this loop for the whole search; released, it keeps ticking.
    t = threading.Thread(target=search)
    t.start()
    ticks = [time.perf_counter()]
    while not done.is_set():
        ticks.append(time.perf_counter())
        sum(range(200))
    t.join()
    span = ticks[-1] - ticks[0]
    gaps = np.diff(ticks)
    assert span >= 0.5 * reps * alone
    # The longest stall is a small part of a search (GIL switch interval, scheduling).
    assert gaps.max() < 0.5 * alone * reps, (gaps.max(), alone, reps)
    assert len(ticks) > 100


def test_writes_flush_and_close_beside_searches(tmp_path):
    x = clustered(3000, 16, seed=19)
    index = quarry.build(x, tmp_path / "idx", partitions=8)
    stop = threading.Event()
    errors, searches = [], [0]

    def searcher():
        try:
            while not stop.is_set():
                D, I = index.search(x[:64], 10, nprobe=8)
                assert I.shape == (64, 10)
                searches[0] += 1
        except quarry.QuarryError as e:
            # Only once the index is closed.
            if "closed" not in str(e):
                errors.append(e)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    rng = np.random.default_rng(20)
    for b in range(10):
        ids = np.arange(100_000 + b * 100, 100_000 + (b + 1) * 100)
        index.upsert(ids, rng.normal(0, 10, (100, 16)).astype(np.float32))
        if b % 3 == 0:
            index.delete(ids[:10])
        if b == 5:
            index.flush()
    index.compact()
    index.close()    # waits for running searches; later ones raise "closed"
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert searches[0] > 0
    with pytest.raises(quarry.QuarryError, match="closed"):
        index.search(x[:1], 1)
    index.close()    # closing twice is fine
    with quarry.Index.open(tmp_path / "idx") as again:
        assert len(again) == 3000 + 1000 - 40


@pytest.mark.parametrize("io_threads", [1, 8])
def test_many_threads_reading_many_partitions_do_not_deadlock(sift, tmp_path, io_threads):
    # Regression: concurrent searches used to deadlock in the I/O pool (its threads
    # blocked on one search's full read-ahead channel while the rayon workers waited
    # for another search's reads queued behind them). Found by bench.py's threads.
    base, q, _ = sift
    quarry.build(base, tmp_path / "idx", partitions=64, writable=False).close()
    index = quarry.Index.open(tmp_path / "idx", io_threads=io_threads)
    stop = threading.Event()
    calls = [0] * 4

    def work(t):
        while not stop.is_set():
            index.search(q[t * 10:(t + 1) * 10], 10, nprobe=64)
            calls[t] += 1

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), f"deadlocked after {calls} calls"
    assert min(calls) >= 5, calls
    index.close()


def test_threads_one_gives_the_same_answers(tmp_path):
    x = clustered(2000, 16, seed=23)
    index = quarry.build(x, tmp_path / "idx", partitions=8, writable=False)
    q = x[:50] + 0.01
    D, I = index.search(q, 5, nprobe=4)
    D1, I1 = index.search(q, 5, nprobe=4, threads=1)
    assert (I == I1).all() and (D == D1).all()
    D2, I2 = index.search(q, 5, nprobe=4, threads=2)
    assert (I == I2).all()
    with pytest.raises(ValueError, match="threads"):
        index.search(q, 5, threads=0)
    index.close()
